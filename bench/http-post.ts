// The benchmarks' HTTP client: node:http with keep-alive, one socket per server, as dockerode reaches the engine.
import { Agent, request } from 'node:http';

const keepAlive = new Agent({ keepAlive: true, maxSockets: 1 });

/** A GraphQL POST to /graphql on 127.0.0.1:`port`; the whole response is read. */
export function post(port: number, query: string, variables?: Record<string, unknown>): Promise<string> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ query, variables });
    const call = request(
      { host: '127.0.0.1', port, path: '/graphql', method: 'POST', agent: keepAlive, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => (response.statusCode === 200 ? resolve(text) : reject(new Error(`HTTP ${response.statusCode}: ${text}`))));
      },
    );
    call.on('error', reject);
    call.end(body);
  });
}
