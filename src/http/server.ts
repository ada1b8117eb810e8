import http from 'node:http';
import type { Logger } from '../log.js';
import type { Registry } from 'prom-client';

export interface HealthCheck {
  ok: boolean;
  [detail: string]: unknown;
}

export interface HttpSources {
  health: () => Record<string, HealthCheck>;
  registry: Registry;
  /** Refreshes gauges read from the database before a scrape. */
  beforeScrape: () => void;
  status: () => unknown;
}

/**
 * /healthz: 200 when every check passes, 503 otherwise, with each check in the JSON body.
 * /metrics: Prometheus text format. /status: what `ich-triage status` prints.
 */
export function createHttpServer(sources: HttpSources, log: Logger): http.Server {
  return http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const json = (code: number, body: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(`${JSON.stringify(body, null, 2)}\n`);
    };
    if (req.method !== 'GET') return json(405, { error: 'GET only' });
    try {
      if (url.pathname === '/healthz') {
        const checks = sources.health();
        const ok = Object.values(checks).every((c) => c.ok);
        return json(ok ? 200 : 503, { status: ok ? 'ok' : 'fail', failed: Object.keys(checks).filter((k) => !checks[k]!.ok), checks });
      }
      if (url.pathname === '/metrics') {
        sources.beforeScrape();
        sources.registry.metrics().then(
          (text) => {
            res.writeHead(200, { 'content-type': sources.registry.contentType });
            res.end(text);
          },
          (err: unknown) => json(500, { error: String(err) }),
        );
        return;
      }
      if (url.pathname === '/status') return json(200, sources.status());
      return json(404, { error: 'not found', endpoints: ['/healthz', '/metrics', '/status'] });
    } catch (err) {
      log.error({ err, path: url.pathname }, 'http handler failed');
      return json(500, { error: 'internal error' });
    }
  });
}
