// Stands in for ssh2 where docker-modem requires it (see ../deferred-transports.ts).
import { createRequire } from 'node:module';
import { deferredModules } from '../deferred-transports.ts';

interface Ssh2 {
  Client: new (...args: unknown[]) => object;
}

const require = createRequire(import.meta.url);
let real: Ssh2 | undefined;

/** The one name docker-modem takes from ssh2: `new Client()` loads ssh2 and is a real ssh2 Client. */
export class Client {
  constructor(...args: unknown[]) {
    real ??= require(deferredModules.ssh2) as Ssh2;
    return new real.Client(...args);
  }
}
