import { operatorOnly } from '../../auth/auth-plugin.ts';
import { liveRead } from '../plugins/kept-responses.ts';
import type { LogStream } from '../../engine/engine-types.ts';
import type { FollowedLogLine } from '../../modules/log-follower.ts';
import { maxLogTail } from '../../modules/module-logs.ts';
import { builder } from '../builder.ts';
import { ModuleRef } from './module.ts';

const LogStreamEnum = builder.enumType('LogStream', {
  values: {
    STDOUT: { value: 'stdout', description: "The container's standard output; all of a TTY container's log." },
    STDERR: { value: 'stderr', description: "The container's standard error." },
  } satisfies Record<Uppercase<LogStream>, { value: LogStream; description: string }>,
});

const LogLineRef = builder.objectRef<FollowedLogLine>('LogLine').implement({
  description: "One line of a module container's log, as the engine recorded it.",
  fields: (t) => ({
    at: t.field({ type: 'DateTime', description: 'When the engine read the line from the container (its clock, to the millisecond).', resolve: (line) => line.at }),
    stream: t.field({ type: LogStreamEnum, resolve: (line) => line.stream }),
    text: t.string({ description: 'The line without its newline; a line longer than 256 KiB (of UTF-8) comes as several LogLines of one `at`.', resolve: (line) => line.text }),
    dropped: t.int({
      description:
        "Lines left out just before this one: in moduleLogs because the subscriber did not keep up (it holds 2 Mi characters of lines); in Module.logs, on the first line only, the older lines past the answer's 8 Mi characters of text. 0 when none were.",
      resolve: (line) => line.dropped ?? 0,
    }),
  }),
});

/** The arguments of Module.logs and moduleLogs. */
const logArgs = builder.args((t) => ({
  tail: t.int({ required: true, defaultValue: 100, description: `The last lines to start with, from 0 to ${maxLogTail}.` }),
  since: t.field({ type: 'DateTime', required: false, description: 'Only lines from this moment on, itself included; default from the first.' }),
}));

builder.objectField(ModuleRef, 'logs', (t) =>
  t.field({
    type: [LogLineRef],
    description: "The last `tail` lines of the module container's log, stdout and stderr, oldest first; none without a container. Operators only.",
    extensions: { ...operatorOnly, ...liveRead },
    args: logArgs,
    resolve: (module, request, { modules }) => modules.logs(module.spec.name, request),
  }),
);

builder.subscriptionField('moduleLogs', (t) =>
  t.field({
    type: LogLineRef,
    description:
      "The last `tail` lines of the module container's log, then each new line as it is printed, across the container's restarts without repeating a line; completes when the container is removed or replaced by a new one (at once when the module has none). Operators only.",
    extensions: operatorOnly,
    args: { name: t.arg.string({ required: true }), ...logArgs },
    subscribe: (_root, { name, ...request }, { modules }) => modules.followLogs(name, request),
    resolve: (line) => line,
  }),
);
