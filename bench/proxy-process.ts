// The allowlisting engine proxy of the integration tests (test/integration/engine-proxy.ts) in a process of its
// own, driven over IPC: berth and the floor of benchmark l reach the engine through it, so its hop costs them alike
// and neither side's process also carries the other's forwarding; benchmark c times berth's engine calls with it.
// `node proxy-process.ts <socket>`; bench/proxy-child.ts drives it.
import { engineSocketPath, startEngineProxy } from '../test/integration/engine-proxy.ts';

/**
 * What the parent asks: `arm` reports the next call, `cut` ends berth's open event streams, `time` starts
 * timing the calls made from then on, and `timed` reports how long the engine had one open between `from`
 * and `to` (the parent's work, on the shared clock), of those made since `time`.
 */
export type ProxyRequest = { type: 'arm' } | { type: 'cut' } | { type: 'time' } | { type: 'timed'; from: number; to: number };

/**
 * What the proxy tells, with when (`performance.timeOrigin + performance.now()`, comparable across processes).
 * `timed`: the milliseconds in which at least one call timed was open (overlapping calls counted once), how
 * many calls there were, and when the first came and the last answer ended (NaN without calls); the event stream,
 * open all along, is not a call.
 */
export type ProxyReport = { type: 'listening' } | { type: 'call'; key: string; at: number } | { type: 'cut'; at: number } | { type: 'timing' } | { type: 'timed'; ms: number; calls: number; first: number; last: number };

const now = () => performance.timeOrigin + performance.now();
const send = (report: ProxyReport) => process.send!(report);
let armed = false;
/** The calls timed since `time`, as [from, to]; `to` is NaN while a call is open. */
let timed: [number, number][] | undefined;

const proxy = await startEngineProxy(process.argv[2]!, engineSocketPath(), (key) => {
  const span = timed && key !== 'GET /events' ? ([now(), Number.NaN] as [number, number]) : undefined;
  if (span) timed!.push(span);
  // A report per call would load the proxy: the first after an `arm`, and every reconnect of the event stream.
  if (armed || key === 'GET /events') {
    armed = false;
    send({ type: 'call', key, at: now() });
  }
  return span && (() => (span[1] = now()));
});

/** The time within [start, end] covered by the spans, each overlap once; a span still open runs to `end`. */
function covered(spans: [number, number][], start: number, end: number): number {
  let total = 0;
  let reached = start;
  for (const [from, to] of spans.toSorted(([a], [b]) => a - b)) {
    const until = Math.min(Number.isNaN(to) ? end : to, end);
    const since = Math.max(from, reached);
    if (until <= since) continue;
    total += until - since;
    reached = until;
  }
  return total;
}

process.on('message', (request: ProxyRequest) => {
  if (request.type === 'arm') armed = true;
  else if (request.type === 'time') {
    timed = [];
    send({ type: 'timing' });
  }
  else if (request.type === 'timed') {
    const spans = (timed ?? []).filter(([from]) => from <= request.to);
    const ends = spans.map(([, to]) => (Number.isNaN(to) ? request.to : Math.min(to, request.to)));
    send({ type: 'timed', ms: covered(spans, request.from, request.to), calls: spans.length, first: spans.length > 0 ? Math.max(request.from, Math.min(...spans.map(([from]) => from))) : Number.NaN, last: spans.length > 0 ? Math.max(...ends) : Number.NaN });
    timed = undefined;
  } else {
    proxy.cut('GET /events');
    send({ type: 'cut', at: now() });
  }
});
process.on('disconnect', () => void proxy.close().then(() => process.exit(0)));
send({ type: 'listening' });
