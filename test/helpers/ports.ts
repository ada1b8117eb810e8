// Free TCP ports for tests that start servers: the kernel picks them, 11112 is never handed out.
import net from 'node:net';

/** Ports handed out by this process, so two calls never return the same one. */
const handedOut = new Set<number>();

/** A TCP port that was free on `host` a moment ago (listen on port 0, then close). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = net.createServer();
      server.once('error', reject);
      server.listen(0, host, () => {
        const { port } = server.address() as net.AddressInfo;
        server.close(() => resolve(port));
      });
    });
    if (port !== 11112 && !handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const ports: number[] = [];
  for (let i = 0; i < count; i++) ports.push(await freePort(host));
  return ports;
}
