// The floor of benchmarks b and d: a bare `ws` server, in a process of its own run with berth's node
// flags, speaking just enough graphql-ws for the bench's clients (ack, one subscription each) and
// broadcasting one precomputed `next` frame, berth's own bytes, on a command. No GraphQL, no store:
// what delivering a change to that many sockets costs Node and the kernel. Driven over IPC.
import { WebSocketServer, type WebSocket } from 'ws';

export type FloorCommand = { type: 'frame'; key: string; frame: string } | { type: 'broadcast'; key: string };
export type FloorReport = { type: 'listening'; port: number } | { type: 'stored' };

/** The frames, by key: `initial` answers each subscribe, the others are broadcast. Buffers, so a broadcast encodes nothing. */
const frames = new Map<string, Buffer>();
const subscribed = new Set<WebSocket>();
const send = (report: FloorReport) => process.send!(report);

const server = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/graphql' });

server.on('connection', (socket) => {
  socket.on('message', (data) => {
    const message = JSON.parse(String(data)) as { type: string };
    if (message.type === 'connection_init') socket.send('{"type":"connection_ack"}');
    else if (message.type === 'subscribe') {
      subscribed.add(socket);
      socket.send(frames.get('initial')!, { binary: false });
    } else if (message.type === 'complete') subscribed.delete(socket);
  });
  socket.on('close', () => subscribed.delete(socket));
});

server.on('listening', () => send({ type: 'listening', port: (server.address() as { port: number }).port }));

process.on('message', (command: FloorCommand) => {
  if (command.type === 'frame') {
    frames.set(command.key, Buffer.from(command.frame));
    send({ type: 'stored' });
  } else for (const socket of subscribed) socket.send(frames.get(command.key)!, { binary: false });
});
process.on('disconnect', () => process.exit(0));
