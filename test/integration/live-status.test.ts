import { inject } from 'vitest';
import { describeLiveStatus } from './live-status-cases.ts';
import { dockerEngine } from './test-engine.ts';

describeLiveStatus(`Docker ${inject('engineVersion')}`, dockerEngine);
