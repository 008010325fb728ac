// The control channel of a running embedded compositor: JSON lines over a unix socket
// (bridge/control/json-lines.ts). Tests and the CLI use it to read the
// compositor's state, fetch PNGs of surfaces or of the output, change knobs at run
// time, take external pool references, and crash the process on purpose.
//
// Request:  {"id": 1, "op": "state"}               Response: {"id": 1, "ok": true, "result": …}
//           {"id": 2, "op": "set-knobs", "knobs": {"releaseDelayMs": 200}}
//           {"id": 3, "op": "surface-png", "surface": 1}     → {"width", "height", "png": base64}
//           {"id": 4, "op": "crash"}                          → answered, then the process dies
// Failure:  {"id": 1, "ok": false, "error": {"code": "…", "message": "…"}}

import { z } from 'zod';
import { JsonLinesClient, JsonLinesServer } from '../../bridge/control/json-lines.js';
import { ControlError } from './errors.js';
import { type Knobs, type KnobsPatch, knobsPatchSchema } from './knobs.js';
import { encodePng } from './png.js';
import type { CompositorState, EmbeddedCompositor } from './server.js';
import type { PingResult } from './xdg-shell.js';

const requestSchema = z.discriminatedUnion('op', [
  z.object({ id: z.number(), op: z.literal('state') }),
  z.object({ id: z.number(), op: z.literal('set-knobs'), knobs: knobsPatchSchema }),
  z.object({ id: z.number(), op: z.literal('surface-png'), surface: z.number().int() }),
  z.object({ id: z.number(), op: z.literal('frame-png') }),
  z.object({
    id: z.number(),
    op: z.literal('write-png'),
    path: z.string().min(1),
    surface: z.number().int().optional(),
  }),
  z.object({ id: z.number(), op: z.literal('ref-pool'), pool: z.number().int() }),
  z.object({ id: z.number(), op: z.literal('unref-pool'), ref: z.number().int() }),
  z.object({
    id: z.number(),
    op: z.literal('ping'),
    timeoutMs: z.number().int().min(0).max(60_000).optional(),
  }),
  z.object({ id: z.number(), op: z.literal('crash') }),
]);
type ControlRequest = z.infer<typeof requestSchema>;

/** A PNG as the control channel carries it. */
export interface PngResult {
  readonly width: number;
  readonly height: number;
  readonly png: Buffer;
}

export interface ControlServerOptions {
  /**
   * How the process dies on a `crash` request, after the answer is written. Without it
   * the request is refused (an in-process compositor must not kill its host).
   */
  readonly crash?: () => void;
}

/** Serves the control channel of `compositor` on `path` until close(). */
export class ControlServer {
  private constructor(
    private readonly server: JsonLinesServer,
    private readonly compositor: EmbeddedCompositor,
    private readonly options: ControlServerOptions,
  ) {}

  get path(): string {
    return this.server.path;
  }

  static async listen(
    path: string,
    compositor: EmbeddedCompositor,
    options: ControlServerOptions = {},
  ): Promise<ControlServer> {
    // A stale control socket of a crashed compositor is replaced.
    const answer: { to?: ControlServer } = {};
    const server = await JsonLinesServer.listen(path, (json) => answer.to!.#answer(json), {
      afterAnswer: (json) => {
        if (isCrash(json)) options.crash?.();
      },
    });
    answer.to = new ControlServer(server, compositor, options);
    return answer.to;
  }

  async #answer(json: unknown): Promise<unknown> {
    const parsed = requestSchema.safeParse(json);
    if (!parsed.success) {
      throw new ControlError(
        `bad request: ${parsed.error.issues.map((i) => i.message).join('; ')}`,
      );
    }
    return this.#handle(parsed.data);
  }

  async #handle(request: ControlRequest): Promise<unknown> {
    const c = this.compositor;
    switch (request.op) {
      case 'state':
        return c.state();
      case 'set-knobs':
        return c.setKnobs(request.knobs);
      case 'surface-png':
        return pngJson(c.surfaceImage(request.surface));
      case 'frame-png':
        return pngJson(c.frameImage());
      case 'write-png':
        c.writePng(request.path, request.surface);
        return { path: request.path };
      case 'ref-pool':
        return { ref: c.refPool(request.pool) };
      case 'unref-pool':
        c.unrefPool(request.ref);
        return {};
      case 'ping':
        return c.ping(request.timeoutMs);
      case 'crash':
        if (this.options.crash === undefined) {
          throw new ControlError('crash is not enabled for this compositor (in-process)');
        }
        return {};
    }
  }

  close(): Promise<void> {
    return this.server.close();
  }
}

function isCrash(json: unknown): boolean {
  return typeof json === 'object' && json !== null && 'op' in json && json.op === 'crash';
}

function pngJson(image: { width: number; height: number; data: Uint8Array }): object {
  return { width: image.width, height: image.height, png: encodePng(image).toString('base64') };
}

/** The client side, for tests and tools: one request at a time or many in flight. */
export class ControlClient {
  private constructor(private readonly channel: JsonLinesClient) {}

  static async connect(path: string): Promise<ControlClient> {
    return new ControlClient(
      await JsonLinesClient.connect(path, (message) => new ControlError(message)),
    );
  }

  /** Sends one request; rejects with ControlError on refusal or a lost channel. */
  call(op: string, params: Record<string, unknown> = {}): Promise<unknown> {
    return this.channel.call(op, params);
  }

  async state(): Promise<CompositorState> {
    return (await this.call('state')) as CompositorState;
  }

  async setKnobs(knobs: KnobsPatch): Promise<Knobs> {
    return (await this.call('set-knobs', { knobs })) as Knobs;
  }

  /** PNG of what surface `serial` shows (buffer coordinates). */
  async surfacePng(surface: number): Promise<PngResult> {
    return decodePngResult(await this.call('surface-png', { surface }));
  }

  /** PNG of the output as last repainted. */
  async framePng(): Promise<PngResult> {
    return decodePngResult(await this.call('frame-png'));
  }

  /** Has the compositor write the PNG itself (surface, or the output without one). */
  async writePng(path: string, surface?: number): Promise<void> {
    await this.call('write-png', surface === undefined ? { path } : { path, surface });
  }

  async refPool(pool: number): Promise<number> {
    return ((await this.call('ref-pool', { pool })) as { ref: number }).ref;
  }

  async unrefPool(ref: number): Promise<void> {
    await this.call('unref-pool', { ref });
  }

  async ping(timeoutMs?: number): Promise<PingResult[]> {
    return (await this.call('ping', timeoutMs === undefined ? {} : { timeoutMs })) as PingResult[];
  }

  /** Makes the compositor process die at once (no cleanup: a stale socket is left). */
  async crash(): Promise<void> {
    await this.call('crash');
  }

  close(): void {
    this.channel.close();
  }
}

function decodePngResult(value: unknown): PngResult {
  const v = value as { width: number; height: number; png: string };
  return { width: v.width, height: v.height, png: Buffer.from(v.png, 'base64') };
}
