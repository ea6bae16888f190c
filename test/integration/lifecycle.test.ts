import { inject } from 'vitest';
import { describeLifecycle } from './lifecycle-cases.ts';
import { dockerEngine } from './test-engine.ts';

describeLifecycle(`Docker ${inject('engineVersion')}`, dockerEngine);
