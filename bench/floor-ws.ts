// The floor of benchmarks b and d: a bare `ws` server, in a process of its own run with berth's node
// flags, speaking just enough graphql-ws for the bench's clients (ack, one subscription each) and
// broadcasting one precomputed `next` frame, berth's own bytes, on a command (or a run of them: the storm of
// benchmark m), or at an engine event it reads itself (b's floor with the engine beside it). No GraphQL, no
// store: what delivering a change to that many sockets costs Node and the kernel. Driven over IPC.
import { request } from 'node:http';
import { createInterface } from 'node:readline';
import { WebSocketServer, type WebSocket } from 'ws';

/**
 * `frame`: one frame, or a run of them, sent in order. `follow`: broadcast `RUNNING` at each `start` event of the
 * container, `EXITED` at each `die`, read from the engine's event stream here, as berth reads its own.
 */
export type FloorCommand = { type: 'frame'; key: string; frame: string | string[] } | { type: 'broadcast'; key: string } | { type: 'follow'; socketPath: string; containerId: string };
export type FloorReport = { type: 'listening'; port: number } | { type: 'stored' } | { type: 'following' };

/** The frames, by key: `initial` answers each subscribe, the others are broadcast. Buffers, so a broadcast encodes nothing. */
const frames = new Map<string, Buffer[]>();
const subscribed = new Set<WebSocket>();
const send = (report: FloorReport) => process.send!(report);

const server = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/graphql' });

server.on('connection', (socket) => {
  socket.on('message', (data) => {
    const message = JSON.parse(String(data)) as { type: string };
    if (message.type === 'connection_init') socket.send('{"type":"connection_ack"}');
    else if (message.type === 'subscribe') {
      subscribed.add(socket);
      for (const frame of frames.get('initial')!) socket.send(frame, { binary: false });
    } else if (message.type === 'complete') subscribed.delete(socket);
  });
  socket.on('close', () => subscribed.delete(socket));
});

server.on('listening', () => send({ type: 'listening', port: (server.address() as { port: number }).port }));

/** Frame by frame, each to every socket, a change to every subscriber before the next; a run of frames goes out in one write a socket (corked until all are queued), as berth writes the messages of one turn. */
function broadcast(key: string): void {
  const run = frames.get(key)!;
  const raw = (socket: WebSocket) => (socket as unknown as { _socket: { cork(): void; uncork(): void } })._socket;
  if (run.length > 1) for (const socket of subscribed) raw(socket).cork();
  for (const frame of run) for (const socket of subscribed) socket.send(frame, { binary: false });
  if (run.length > 1) for (const socket of subscribed) raw(socket).uncork();
}

/** The engine's `start` and `die` events of one container, each broadcast as its status the moment it is read. */
function follow(socketPath: string, containerId: string): void {
  const filters = JSON.stringify({ type: ['container'], container: [containerId], event: ['start', 'die'] });
  request({ socketPath, path: `/events?filters=${encodeURIComponent(filters)}` }, (response) => {
    send({ type: 'following' });
    createInterface({ input: response }).on('line', (line) => {
      const event = JSON.parse(line) as { id: string; Action: string };
      if (event.id === containerId) broadcast(event.Action === 'start' ? 'RUNNING' : 'EXITED');
    });
  })
    .on('error', (error) => {
      // The bench sees the floor go (WsFloor.follow) and fails, rather than waiting for its trials.
      process.stderr.write(`floor-ws: the engine's events at ${socketPath}: ${error.message}\n`);
      process.exit(1);
    })
    .end();
}

process.on('message', (command: FloorCommand) => {
  if (command.type === 'frame') {
    frames.set(command.key, [command.frame].flat().map((frame) => Buffer.from(frame)));
    send({ type: 'stored' });
  } else if (command.type === 'follow') follow(command.socketPath, command.containerId);
  else broadcast(command.key);
});
process.on('disconnect', () => process.exit(0));
