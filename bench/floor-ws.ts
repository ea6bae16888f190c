// The floor of benchmarks b and d: a bare `ws` server, in a process of its own run with berth's node
// flags, speaking just enough graphql-ws for the bench's clients (ack, one subscription each) and
// broadcasting one precomputed `next` frame, berth's own bytes, on a command (or a run of them: the storm of
// benchmark m). No GraphQL, no store: what delivering a change to that many sockets costs Node and the kernel.
// Driven over IPC.
import { WebSocketServer, type WebSocket } from 'ws';

/** `frame`: one frame, or a run of them, sent in order. */
export type FloorCommand = { type: 'frame'; key: string; frame: string | string[] } | { type: 'broadcast'; key: string };
export type FloorReport = { type: 'listening'; port: number } | { type: 'stored' };

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

process.on('message', (command: FloorCommand) => {
  if (command.type === 'frame') {
    frames.set(command.key, [command.frame].flat().map((frame) => Buffer.from(frame)));
    send({ type: 'stored' });
  } else {
    // Frame by frame, each to every socket, a change to every subscriber before the next; a run of frames goes out
    // in one write a socket (corked until all are queued), as berth writes the messages of one turn.
    const run = frames.get(command.key)!;
    const raw = (socket: WebSocket) => (socket as unknown as { _socket: { cork(): void; uncork(): void } })._socket;
    if (run.length > 1) for (const socket of subscribed) raw(socket).cork();
    for (const frame of run) for (const socket of subscribed) socket.send(frame, { binary: false });
    if (run.length > 1) for (const socket of subscribed) raw(socket).uncork();
  }
});
process.on('disconnect', () => process.exit(0));
