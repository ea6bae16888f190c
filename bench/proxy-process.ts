// The allowlisting engine proxy of the integration tests (test/integration/engine-proxy.ts) in a process of its
// own, driven over IPC: both sides of benchmark l reach the engine through it, so its hop costs them alike and
// neither side's process also carries the other's forwarding. `node proxy-process.ts <socket>`.
import { engineSocketPath, startEngineProxy } from '../test/integration/engine-proxy.ts';

/** What the parent asks: `arm` reports the next call, `cut` ends berth's open event streams. */
export type ProxyRequest = { type: 'arm' } | { type: 'cut' };

/** What the proxy tells, with when (`performance.timeOrigin + performance.now()`, comparable across processes). */
export type ProxyReport = { type: 'listening' } | { type: 'call'; key: string; at: number } | { type: 'cut'; at: number };

const now = () => performance.timeOrigin + performance.now();
const send = (report: ProxyReport) => process.send!(report);
let armed = false;

const proxy = await startEngineProxy(process.argv[2]!, engineSocketPath(), (key) => {
  // A report per call would load the proxy: the first after an `arm`, and every reconnect of the event stream.
  if (!armed && key !== 'GET /events') return;
  armed = false;
  send({ type: 'call', key, at: now() });
});
process.on('message', (request: ProxyRequest) => {
  if (request.type === 'arm') armed = true;
  else {
    proxy.cut('GET /events');
    send({ type: 'cut', at: now() });
  }
});
process.on('disconnect', () => void proxy.close().then(() => process.exit(0)));
send({ type: 'listening' });
