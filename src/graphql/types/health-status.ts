import type { HealthStatus } from '../../modules/module-status.ts';
import { builder } from '../builder.ts';
import { describedValues } from './enum-values.ts';

const descriptions: Record<HealthStatus, string> = {
  NONE: 'No healthcheck (neither docker.yaml nor the image has one), no container, or a container never started.',
  STARTING: 'The container started and its healthcheck has not yet passed, nor failed its retries.',
  HEALTHY: 'The last healthcheck passed.',
  UNHEALTHY: 'The healthcheck failed its retries, or the container stopped, died or was paused (the engine then stops the check).',
};

export const HealthStatusEnum = builder.enumType('HealthStatus', {
  values: describedValues(descriptions),
});
