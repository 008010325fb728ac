// Serves /metrics over HTTP, on a unix socket (mode 0600, as the control socket) or on a
// loopback TCP port: what the metrics tell (every client's traffic) is the machine's
// operator's. Each scrape takes one snapshot and renders it (metrics.ts).

import { existsSync, lstatSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SnapshotSource } from '../ops/snapshot.js';
import { answers, closePrivately, listenPrivately } from '../control/private-socket.js';
import type { BridgeMetrics } from './metrics.js';

export type MetricsListenAddress =
  | { readonly kind: 'unix'; readonly path: string }
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number };

/** --metrics cannot listen where it was told to. */
export class MetricsListenError extends Error {
  readonly code = 'ERR_METRICS_LISTEN';
  override readonly name = 'MetricsListenError';
}

export class MetricsServer {
  private constructor(
    private readonly server: Server,
    private readonly address: MetricsListenAddress,
  ) {}

  /** Where it listens, for logs: the socket path, or host:port (the real port if 0 was asked). */
  get where(): string {
    if (this.address.kind === 'unix') return this.address.path;
    const { address, port } = this.server.address() as AddressInfo;
    return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
  }

  static async listen(
    address: MetricsListenAddress,
    metrics: BridgeMetrics,
    source: SnapshotSource,
  ): Promise<MetricsServer> {
    const server = createServer((req, res) => void respond(req, res, metrics, source));
    try {
      if (address.kind === 'unix') {
        const { path } = address;
        if (existsSync(path) && (!lstatSync(path).isSocket() || answers(path))) {
          throw new MetricsListenError(`${path} exists and is not a stale socket`);
        }
        await listenPrivately(server, path, 0o600);
      } else {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(address.port, address.host, () => {
            server.off('error', reject);
            resolve();
          });
        });
      }
    } catch (err) {
      if (err instanceof MetricsListenError) throw err;
      const where = address.kind === 'unix' ? address.path : `${address.host}:${address.port}`;
      throw new MetricsListenError(
        `cannot serve metrics on ${where}: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    return new MetricsServer(server, address);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    if (this.address.kind === 'unix') return closePrivately(this.server, this.address.path);
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

async function respond(
  req: IncomingMessage,
  res: ServerResponse,
  metrics: BridgeMetrics,
  source: SnapshotSource,
): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET' || (path !== '/metrics' && path !== '/')) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try GET /metrics\n');
    return;
  }
  try {
    const body = await metrics.render(source.snapshot());
    res.writeHead(200, { 'content-type': metrics.contentType }).end(body);
  } catch (err) {
    res
      .writeHead(500, { 'content-type': 'text/plain' })
      .end(
        `grantway: cannot render metrics: ${err instanceof Error ? err.message : String(err)}\n`,
      );
  }
}
