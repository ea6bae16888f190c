// A container's stats as the engine sends them (GET /containers/{id}/stats, one object a second),
// turned into the figures `docker stats` prints, computed as the Docker CLI computes them on Linux
// (cli/command/container/stats_helpers.go: calculateCPUPercentUnix, calculateMemUsageUnixNoCache,
// calculateNetwork). A field the engine leaves out counts as 0, as Go's zero values do for the CLI.
import type { ContainerStats } from './engine-types.ts';

export interface RawCpuStats {
  cpu_usage?: { total_usage?: number; percpu_usage?: number[] };
  /** The host's CPU time, all CPUs together, in nanoseconds. */
  system_cpu_usage?: number;
  online_cpus?: number;
}

export interface RawMemoryStats {
  usage?: number;
  limit?: number;
  /** memory.stat: cgroup v1 has total_inactive_file (the hierarchy's), cgroup v2 only inactive_file. */
  stats?: Record<string, number>;
}

export interface RawContainerStats {
  read?: string;
  /** When the previous reading was taken: the zero time in the first object of a stream. */
  preread?: string;
  cpu_stats?: RawCpuStats;
  precpu_stats?: RawCpuStats;
  memory_stats?: RawMemoryStats;
  networks?: Record<string, { rx_bytes?: number; tx_bytes?: number }>;
}

/**
 * The figures of one object of the stream. undefined for an object that holds no reading to show: the
 * first of a stream, which has no previous CPU reading to compare with (docker stats --no-stream waits
 * for the second as well), and those the engine keeps sending, with the zero time, once the container
 * has stopped.
 */
export function toContainerStats(value: unknown): ContainerStats | 'malformed' | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'malformed';
  const raw = value as RawContainerStats;
  const at = engineTime(raw.read);
  if (at === undefined || engineTime(raw.preread) === undefined) return undefined;
  const { rx, tx } = networkBytes(raw.networks);
  return {
    cpuPercent: cpuPercent(raw.precpu_stats ?? {}, raw.cpu_stats ?? {}),
    memoryBytes: memoryBytes(raw.memory_stats ?? {}),
    memoryLimitBytes: raw.memory_stats?.limit ?? 0,
    networkRxBytes: rx,
    networkTxBytes: tx,
    at,
  };
}

/** undefined for a missing time or Go's zero time (0001-01-01), which the engine sends for "none". */
function engineTime(text: string | undefined): Date | undefined {
  const time = text === undefined ? Number.NaN : Date.parse(text);
  return time > 0 ? new Date(time) : undefined;
}

/**
 * The container's CPU time over the host's between two readings, times the CPUs online: the share of
 * one CPU. 0 when either did not grow (no time passed, or a counter restarted).
 */
export function cpuPercent(previous: RawCpuStats, current: RawCpuStats): number {
  const containerDelta = (current.cpu_usage?.total_usage ?? 0) - (previous.cpu_usage?.total_usage ?? 0);
  const systemDelta = (current.system_cpu_usage ?? 0) - (previous.system_cpu_usage ?? 0);
  // Engines before API 1.27 send no online_cpus; cgroup v2 sends no per-CPU usage.
  const cpus = current.online_cpus || (current.cpu_usage?.percpu_usage?.length ?? 0);
  return containerDelta > 0 && systemDelta > 0 ? (containerDelta / systemDelta) * cpus * 100 : 0;
}

/**
 * Usage less the inactive file cache: `total_inactive_file` on cgroup v1, `inactive_file` on cgroup v2,
 * as the CLI has since 20.10 (it subtracted `cache` before, which also took away tmpfs and shared
 * memory, memory the container does hold). Usage as it is when the cache figure is not below it.
 */
export function memoryBytes({ usage = 0, stats = {} }: RawMemoryStats): number {
  const cgroupV1 = stats.total_inactive_file;
  if (cgroupV1 !== undefined && cgroupV1 < usage) return usage - cgroupV1;
  const cgroupV2 = stats.inactive_file ?? 0;
  return cgroupV2 < usage ? usage - cgroupV2 : usage;
}

/** Bytes received and sent, summed over the container's interfaces; none without a network. */
export function networkBytes(networks: RawContainerStats['networks'] = {}): { rx: number; tx: number } {
  let rx = 0;
  let tx = 0;
  for (const { rx_bytes = 0, tx_bytes = 0 } of Object.values(networks)) {
    rx += rx_bytes;
    tx += tx_bytes;
  }
  return { rx, tx };
}
