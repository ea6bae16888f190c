import type { ConfigIssue } from '../../config/config-error.ts';
import type { ConfigState } from '../../config/config-reloader.ts';
import { builder } from '../builder.ts';

const ConfigErrorRef = builder.objectRef<ConfigIssue>('ConfigIssue').implement({
  description: 'A problem of a docker.yaml that was rejected, where it is. Never an env value or a credential.',
  fields: (t) => ({
    line: t.exposeInt('line'),
    column: t.exposeInt('column'),
    path: t.exposeString('path', { description: 'The dotted path into the document, such as `modules.tts.ports.http`; empty for the whole file.' }),
    message: t.exposeString('message'),
  }),
});

const ConfigRef = builder.objectRef<ConfigState>('Config').implement({
  description: 'The docker.yaml in force, and the problems of a newer one that was rejected.',
  fields: (t) => ({
    path: t.exposeString('path'),
    loadedAt: t.field({ type: 'DateTime', description: 'When the configuration in force was loaded.', resolve: (config) => config.loadedAt }),
    digest: t.exposeString('digest', { description: 'The sha256 of the file in force, as `sha256sum` prints it, after `sha256:`.' }),
    errors: t.field({
      type: [ConfigErrorRef],
      description: 'Empty unless the file has changed into one berth rejected: the configuration in force is then the one loaded at loadedAt.',
      resolve: (config) => config.errors,
    }),
  }),
});

builder.queryField('config', (t) => t.field({ type: ConfigRef, resolve: (_root, _args, { config }) => config.state }));
