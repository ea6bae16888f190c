import type { ModuleSpec } from '../config/module-spec.ts';
import type { ContainerDetails } from '../engine/engine-types.ts';
import { fieldDigests, labelKeys, specDigest } from './container-spec.ts';

/**
 * What differs between the module's container and its spec, by field name, sorted: the fields whose digest
 * the container's label records otherwise, and `imageId` when the reference now names another image than the
 * one the container was made from (both ids known). Empty without a container. A Swarm service carries the same
 * labels: its drift comes from them alone. A container made before berth
 * recorded a digest per field tells only whether anything differs: `spec`.
 */
export function moduleDrift(spec: ModuleSpec, container: Pick<ContainerDetails, 'labels' | 'imageId'> | undefined, imageId: string | undefined): string[] {
  if (!container) return [];
  const drift = container.imageId && imageId && container.imageId !== imageId ? ['imageId'] : [];
  const recorded = recordedDigests(container.labels);
  if (!recorded) return container.labels[labelKeys.spec] === specDigest(spec) ? drift : [...drift, 'spec'].sort();
  const wanted = fieldDigests(spec);
  for (const field of new Set([...Object.keys(recorded), ...Object.keys(wanted)])) if (recorded[field] !== wanted[field]) drift.push(field);
  return drift.sort();
}

function recordedDigests(labels: Record<string, string>): Record<string, string> | undefined {
  const text = labels[labelKeys.fields];
  if (text === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, string>) : undefined;
  } catch {
    return undefined;
  }
}
