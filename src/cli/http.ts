import type { Config } from '../config/schema.js';
import { IchError, errorMessage } from '../errors.js';

/** The node's HTTP address as a client reaches it (a wildcard bind is reached on loopback). */
export function httpBase(config: Readonly<Config>): string {
  const host = ['0.0.0.0', '::'].includes(config.http.host) ? '127.0.0.1' : config.http.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${config.http.port}`;
}

/** GET a JSON endpoint of the running node. */
export async function getJson(config: Readonly<Config>, pathname: string, timeoutMs = 3000): Promise<{ status: number; body: unknown }> {
  const url = `${httpBase(config)}${pathname}`;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    return { status: res.status, body: await res.json() };
  } catch (err) {
    throw new IchError('DAEMON_NOT_RUNNING', `${url}: ${errorMessage(err)}`, { cause: err });
  }
}
