// Free TCP ports for tests that start servers (see src/util/ports.ts for how they are chosen).
export { freePort, freePorts } from '../../src/util/ports.js';
