import type { ContainerStatus } from '../../modules/module-status.ts';
import { builder } from '../builder.ts';
import { describedValues } from './enum-values.ts';

const descriptions: Record<ContainerStatus, string> = {
  NOT_LOADED: "The module's image is not on the engine.",
  NOT_CREATED: 'The image is present; the module has no container.',
  RUNNING: "The module's container is running.",
  EXITED: "The module's container is created, exited, dead or paused.",
  HANDLING: 'A start or stop is under way, or the engine is restarting or removing the container.',
};

export const ContainerStatusEnum = builder.enumType('ContainerStatus', {
  values: describedValues(descriptions),
});
