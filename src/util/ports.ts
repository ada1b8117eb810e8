import net from 'node:net';

/**
 * Ports for servers a test or benchmark starts, possibly later than it picks the port (a PACS
 * that comes back). They are drawn below the kernel's ephemeral range (32768-60999 on Linux),
 * so no port-0 listener or outgoing connection of another process is handed the same one
 * meanwhile; each is checked free by binding it. 11112, often taken, is never returned.
 */
const lowest = 20000;
const highest = 32767;
const handedOut = new Set<number>();

export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (;;) {
    const port = lowest + Math.floor(Math.random() * (highest - lowest + 1));
    if (port === 11112 || handedOut.has(port)) continue;
    if (await canBind(port, host)) {
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

function canBind(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}
