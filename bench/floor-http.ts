// The floor of benchmark a: a bare node:http server, run with berth's node flags, answering every
// request with the bytes berth answered the same query (read from the file named by its argument),
// after reading the request's body as berth does. No GraphQL, no store: what answering costs Node
// itself. Prints its port on stdout.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const body = readFileSync(process.argv[2]!);

const server = createServer((incoming, answer) => {
  incoming.resume();
  incoming.on('end', () => {
    answer.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length });
    answer.end(body);
  });
});

server.listen(0, '127.0.0.1', () => process.stdout.write(`${(server.address() as { port: number }).port}\n`));
