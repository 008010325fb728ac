// The control socket of a running bridge: `grantway status` asks it what the bridge is
// doing (a BridgeSnapshot, bridge/ops/snapshot.ts) over JSON lines. It lives beside the
// listening socket, NAME.control, mode 0600 (it tells every client's pid and traffic),
// and goes away when the bridge stops.
//
// The name is the bridge's by the lock-file rule: whoever holds NAME.lock owns NAME and
// the names beside it, so a NAME.control left by a dead bridge is replaced. A bridge that
// adopted its socket from a supervisor holding the lock (socket activation) cannot tell a
// stale control socket by the lock, so it asks the socket itself: one that accepts a
// connection belongs to a live process and is left alone.
//
// Request:  {"id": 1, "op": "snapshot"}     Response: {"id": 1, "ok": true, "result": {…}}

import { z } from 'zod';
import { type BridgeSnapshot, bridgeSnapshotSchema, type SnapshotSource } from '../ops/snapshot.js';
import { JsonLinesClient, JsonLinesServer } from './json-lines.js';
import { answers } from './private-socket.js';

const requestSchema = z.discriminatedUnion('op', [
  z.object({ id: z.number(), op: z.literal('snapshot') }),
]);

/** Where the control socket of a bridge listening on `listenPath` is. */
export function controlPathFor(listenPath: string): string {
  return `${listenPath}.control`;
}

/** The control socket cannot be made, or reached, or answers nonsense. */
export class BridgeControlError extends Error {
  readonly code = 'ERR_BRIDGE_CONTROL';
  override readonly name = 'BridgeControlError';
}

export class BridgeControlServer {
  private constructor(private readonly server: JsonLinesServer) {}

  get path(): string {
    return this.server.path;
  }

  /**
   * Serves snapshots of `source` on `path`. `holdsLock`: this bridge holds the lock of
   * the socket `path` sits beside (see the module comment).
   */
  static async listen(
    path: string,
    source: SnapshotSource,
    holdsLock: boolean,
  ): Promise<BridgeControlServer> {
    if (!holdsLock && answers(path)) {
      throw new BridgeControlError(`control socket ${path} is in use by another process`);
    }
    try {
      const server = await JsonLinesServer.listen(
        path,
        (json) => {
          const request = requestSchema.safeParse(json);
          if (!request.success) {
            throw new BridgeControlError(
              `bad request: ${request.error.issues.map((i) => i.message).join('; ')}`,
            );
          }
          return source.snapshot();
        },
        { mode: 0o600 },
      );
      return new BridgeControlServer(server);
    } catch (err) {
      if (err instanceof BridgeControlError) throw err;
      throw new BridgeControlError(
        `cannot make the control socket ${path}: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  }

  close(): Promise<void> {
    return this.server.close();
  }
}

/** Asks a running bridge over its control socket. */
export class BridgeControlClient {
  private constructor(
    private readonly channel: JsonLinesClient,
    readonly path: string,
  ) {}

  static async connect(path: string): Promise<BridgeControlClient> {
    try {
      const channel = await JsonLinesClient.connect(path, (m) => new BridgeControlError(m));
      return new BridgeControlClient(channel, path);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      throw new BridgeControlError(
        `no bridge answers at ${path} (${reason}); is \`grantway proxy\` running there?`,
      );
    }
  }

  async snapshot(): Promise<BridgeSnapshot> {
    const result = bridgeSnapshotSchema.safeParse(await this.channel.call('snapshot'));
    if (!result.success) {
      throw new BridgeControlError(
        `${this.path} answered something that is not a grantway status (${result.error.issues[0]?.message ?? ''}); a different version?`,
      );
    }
    return result.data;
  }

  close(): void {
    this.channel.close();
  }
}
