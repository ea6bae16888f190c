// The floor of bench/load.ts: a bare Node HTTP server, run with berth's node flags, that pipes each
// request's body to the engine's POST /images/load and answers the engine's reply. No GraphQL, no
// multipart: what streaming an upload to the engine costs Node itself. Prints its port on stdout.
import { createServer, request } from 'node:http';

const socketPath = process.env.DOCKER_SOCKET ?? '/var/run/docker.sock';

const server = createServer((incoming, answer) => {
  const toEngine = request({ socketPath, path: '/images/load?quiet=1', method: 'POST', headers: { 'content-type': 'application/x-tar' } }, (reply) => {
    answer.writeHead(reply.statusCode ?? 502, { 'content-type': 'application/json' });
    reply.pipe(answer);
  });
  toEngine.on('error', (error) => answer.destroy(error));
  incoming.pipe(toEngine);
});

server.listen(0, '127.0.0.1', () => process.stdout.write(`${(server.address() as { port: number }).port}\n`));
