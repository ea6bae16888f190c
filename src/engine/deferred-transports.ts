// dockerode loads two transports with itself that berth uses only when asked: BuildKit sessions for
// image builds (gRPC and protobuf) and SSH for DOCKER_HOST=ssh://… (ssh2, which instantiates a
// WebAssembly module as it loads, mscdex/ssh2#1494). Together they are about 7 MB of berth's RSS.
// Imported by main.ts before anything loads dockerode, this module gives dockerode stand-ins that
// load the real modules on first use: an image build with BuildKit, or an ssh:// connection.
import { createRequire, registerHooks } from 'node:module';
import { pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);
const dockerode = require.resolve('dockerode');
const dockerModem = createRequire(dockerode).resolve('docker-modem');

/** The modules deferred, by path: what the stand-ins load when first used. */
export const deferredModules = {
  session: createRequire(dockerode).resolve('./session'),
  ssh2: createRequire(dockerModem).resolve('ssh2'),
};

// Compiled to dist/ the stand-ins are .js files, run from src/ (tests) .ts files.
const extension = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
const standIns = new Map([
  [pathToFileURL(deferredModules.session).href, new URL(`./deferred/session${extension}`, import.meta.url).href],
  [pathToFileURL(deferredModules.ssh2).href, new URL(`./deferred/ssh2${extension}`, import.meta.url).href],
]);

registerHooks({
  resolve(specifier, context, nextResolve) {
    const resolved = nextResolve(specifier, context);
    const standIn = standIns.get(resolved.url);
    // The stand-in itself gets the real module.
    return standIn && context.parentURL !== standIn ? { url: standIn, shortCircuit: true } : resolved;
  },
});
