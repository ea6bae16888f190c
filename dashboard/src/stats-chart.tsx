import type { Client } from 'graphql-ws';
import { useEffect, useState } from 'preact/hooks';
import { subscribe, type ApiError } from './api.ts';
import { statsLive, type Reading } from './operations.ts';
import { bytes } from './units.ts';

/** About a minute of readings: moduleStats sends about one a second. */
export const keptReadings = 60;
const width = 240;
const height = 48;

/** moduleStats for one running module, as two small line charts: CPU and memory. */
export function StatsChart({ name, client }: { name: string; client: Client }) {
  const [readings, setReadings] = useState<Reading[]>([]);
  const [error, setError] = useState<ApiError>();

  useEffect(() => {
    const stats = subscribe<{ moduleStats: Reading }>(client, statsLive, { names: [name] }, {
      onData: ({ moduleStats }) => setReadings((now) => [...now.slice(-(keptReadings - 1)), moduleStats]),
      onError: setError,
    });
    return () => stats.stop();
  }, [name, client]);

  const last = readings.at(-1);
  // Each chart scaled to its own peak (with headroom): an idle module's few percent still show as a line.
  const cpuScale = Math.max(1, ...readings.map((reading) => reading.cpuPercent)) * 1.25;
  const memoryScale = Math.max(1, ...readings.map((reading) => reading.memoryBytes)) * 1.25;
  return (
    <div class="stats" data-readings={readings.length}>
      {error && (
        <p class="error" role="alert">
          <code>{error.code}</code> {error.message}
        </p>
      )}
      <figure>
        <Sparkline values={readings.map((reading) => reading.cpuPercent / cpuScale)} label={`CPU of ${name}`} />
        <figcaption>CPU {last ? `${last.cpuPercent.toFixed(1)} %` : '…'}</figcaption>
      </figure>
      <figure>
        <Sparkline values={readings.map((reading) => reading.memoryBytes / memoryScale)} label={`Memory of ${name}`} />
        <figcaption>Memory {last ? `${bytes(last.memoryBytes)}${last.memoryLimitBytes ? ` of ${bytes(last.memoryLimitBytes)}` : ''}` : '…'}</figcaption>
      </figure>
    </div>
  );
}

/** Values from 0 to 1, the newest at the right edge. */
function Sparkline({ values, label }: { values: number[]; label: string }) {
  const step = width / (keptReadings - 1);
  const offset = width - (values.length - 1) * step;
  const points = values.map((value, index) => `${(offset + index * step).toFixed(1)},${(height - Math.min(1, value) * (height - 2) - 1).toFixed(1)}`).join(' ');
  return (
    <svg class="sparkline" viewBox={`0 0 ${width} ${height}`} role="img" aria-label={label} preserveAspectRatio="none">
      {values.length > 1 && <polygon points={`${offset.toFixed(1)},${height} ${points} ${width},${height}`} />}
      <polyline points={points} />
    </svg>
  );
}
