import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { cpuPercent, memoryBytes, networkBytes, toContainerStats } from '../../src/engine/container-stats.ts';

const fixture = (name: string) => readFile(new URL(`../fixtures/engine-stats/${name}`, import.meta.url), 'utf8');
const MiB = 1024 ** 2;

// The figures of `docker stats`, from objects the engine sent (test/fixtures/engine-stats/README.md). The
// expected numbers are worked out by hand from each object, as the Docker CLI's stats_helpers.go does.
describe('toContainerStats', () => {
  it('computes the cgroup v1 figures of a recorded stream, skipping the first object and those after the stop', async () => {
    const [first, second, stopped] = (await fixture('cgroup-v1-stream.jsonl')).trim().split('\n').map((line) => JSON.parse(line) as unknown);
    expect(toContainerStats(first)).toBeUndefined();
    expect(toContainerStats(stopped)).toBeUndefined();
    expect(toContainerStats(second)).toEqual({
      // container (1_510_108_135 - 1_052_754_289) over host (27_225_520_000_000 - 27_223_500_000_000) × 2 CPUs × 100
      cpuPercent: expect.closeTo((457_353_846 / 2_020_000_000) * 2 * 100, 10),
      // usage 74_633_216 less total_inactive_file 20_971_520 (the 20 MiB file); the 50 MiB in tmpfs stay
      memoryBytes: 53_661_696,
      memoryLimitBytes: 256 * MiB,
      networkRxBytes: 516,
      networkTxBytes: 0,
      at: new Date('2026-11-30T06:50:34.589261081Z'),
    });
  });

  it('takes away the inactive file cache on cgroup v1, not `cache`, which holds tmpfs the container does use', async () => {
    const [, second] = (await fixture('cgroup-v1-stream.jsonl')).trim().split('\n').map((line) => JSON.parse(line) as { memory_stats: { usage: number; stats: Record<string, number> } });
    const { usage, stats } = second!.memory_stats;
    expect(stats.cache! - stats.total_inactive_file!).toBeGreaterThanOrEqual(50 * MiB);
    expect(memoryBytes(second!.memory_stats)).toBe(usage - stats.total_inactive_file!);
  });

  it('computes the cgroup v2 figures: inactive_file, online_cpus without per-CPU usage, every interface', async () => {
    expect(toContainerStats(JSON.parse(await fixture('cgroup-v2.json')))).toEqual({
      cpuPercent: 50,
      memoryBytes: 50 * MiB,
      memoryLimitBytes: 256 * MiB,
      networkRxBytes: 4000,
      networkTxBytes: 600,
      at: new Date('2026-11-30T07:00:02.004Z'),
    });
  });

  it('calls what is not an object malformed, and counts a missing field as 0', () => {
    for (const value of [null, 'text', 42, []]) expect(toContainerStats(value)).toBe('malformed');
    const bare = { read: '2026-11-30T07:00:02Z', preread: '2026-11-30T07:00:01Z' };
    expect(toContainerStats(bare)).toEqual({ cpuPercent: 0, memoryBytes: 0, memoryLimitBytes: 0, networkRxBytes: 0, networkTxBytes: 0, at: new Date(bare.read) });
  });
});

describe('cpuPercent', () => {
  const reading = (total: number, system: number, cpus: { online_cpus?: number; percpu?: number }) => ({
    cpu_usage: { total_usage: total, ...(cpus.percpu && { percpu_usage: new Array<number>(cpus.percpu).fill(0) }) },
    system_cpu_usage: system,
    ...(cpus.online_cpus && { online_cpus: cpus.online_cpus }),
  });

  it('counts the CPUs from the per-CPU usage when the engine does not send online_cpus', () => {
    expect(cpuPercent(reading(0, 0, {}), reading(1e9, 8e9, { percpu: 8 }))).toBe(100);
  });

  it('is 0 when the container or the host used no time, or a counter went back', () => {
    expect(cpuPercent(reading(5e8, 1e9, { online_cpus: 2 }), reading(5e8, 2e9, { online_cpus: 2 }))).toBe(0);
    expect(cpuPercent(reading(5e8, 2e9, { online_cpus: 2 }), reading(6e8, 2e9, { online_cpus: 2 }))).toBe(0);
    expect(cpuPercent(reading(5e8, 2e9, { online_cpus: 2 }), reading(1e8, 3e9, { online_cpus: 2 }))).toBe(0);
  });
});

describe('memoryBytes', () => {
  it('falls back to inactive_file when total_inactive_file is not below usage, and to usage when neither is', () => {
    expect(memoryBytes({ usage: 100, stats: { total_inactive_file: 100, inactive_file: 30 } })).toBe(70);
    expect(memoryBytes({ usage: 100, stats: { total_inactive_file: 120, inactive_file: 120 } })).toBe(100);
    expect(memoryBytes({ usage: 100 })).toBe(100);
  });
});

describe('networkBytes', () => {
  it('is 0 for a container without a network', () => {
    expect(networkBytes(undefined)).toEqual({ rx: 0, tx: 0 });
  });
});
