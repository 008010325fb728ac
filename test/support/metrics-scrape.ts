// Reading a running proxy's --metrics (Prometheus text over its unix socket) the way a
// scraper does, for tests that watch a real run: one series per `name{labels}`.

import { request as httpRequest } from 'node:http';

export type Series = Map<string, number>;

/** Prometheus text as `name{labels}` → value (comments skipped). */
export function parseMetrics(text: string): Series {
  const series: Series = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    series.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return series;
}

/** The sum of every series of a metric (all label sets). */
export function total(series: Series, name: string): number {
  let sum = 0;
  for (const [key, value] of series) if (key === name || key.startsWith(`${name}{`)) sum += value;
  return sum;
}

/** GET /metrics on the unix socket `socketPath`. */
export function scrape(socketPath: string): Promise<Series> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ socketPath, path: '/metrics' }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () =>
        res.statusCode === 200
          ? resolve(parseMetrics(body))
          : reject(new Error(`${res.statusCode}: ${body}`)),
      );
    });
    req.on('error', reject).end();
  });
}
