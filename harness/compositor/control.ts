// The control channel of a running embedded compositor: JSON lines over a unix socket
// (no fds travel here, so node:net is enough). Tests and the CLI use it to read the
// compositor's state, fetch PNGs of surfaces or of the output, change knobs at run
// time, take external pool references, and crash the process on purpose.
//
// Request:  {"id": 1, "op": "state"}               Response: {"id": 1, "ok": true, "result": …}
//           {"id": 2, "op": "set-knobs", "knobs": {"releaseDelayMs": 200}}
//           {"id": 3, "op": "surface-png", "surface": 1}     → {"width", "height", "png": base64}
//           {"id": 4, "op": "crash"}                          → answered, then the process dies
// Failure:  {"id": 1, "ok": false, "error": {"code": "…", "message": "…"}}

import { unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { z } from 'zod';
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
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  private constructor(
    readonly path: string,
    private readonly compositor: EmbeddedCompositor,
    private readonly options: ControlServerOptions,
  ) {
    this.#server = createServer((socket) => this.#serve(socket));
  }

  static async listen(
    path: string,
    compositor: EmbeddedCompositor,
    options: ControlServerOptions = {},
  ): Promise<ControlServer> {
    try {
      unlinkSync(path); // a stale control socket of a crashed compositor
    } catch {
      // none
    }
    const server = new ControlServer(path, compositor, options);
    await new Promise<void>((resolve, reject) => {
      server.#server.once('error', reject);
      server.#server.listen(path, () => resolve());
    });
    return server;
  }

  #serve(socket: Socket): void {
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let buffered = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line.trim() !== '') void this.#answer(socket, line);
      }
    });
  }

  async #answer(socket: Socket, line: string): Promise<void> {
    let id: unknown = null;
    try {
      const json: unknown = JSON.parse(line);
      id = typeof json === 'object' && json !== null && 'id' in json ? json.id : null;
      const parsed = requestSchema.safeParse(json);
      if (!parsed.success) {
        throw new ControlError(
          `bad request: ${parsed.error.issues.map((i) => i.message).join('; ')}`,
        );
      }
      const request = parsed.data;
      const result = await this.#handle(request);
      const crash = request.op === 'crash' ? this.options.crash : undefined;
      socket.write(`${JSON.stringify({ id, ok: true, result })}\n`, () => crash?.());
    } catch (err) {
      const error =
        err instanceof Error
          ? { code: 'code' in err ? String(err.code) : 'ERR_INTERNAL', message: err.message }
          : { code: 'ERR_INTERNAL', message: String(err) };
      if (!socket.destroyed) socket.write(`${JSON.stringify({ id, ok: false, error })}\n`);
    }
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
    for (const socket of this.#sockets) socket.destroy();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

function pngJson(image: { width: number; height: number; data: Uint8Array }): object {
  return { width: image.width, height: image.height, png: encodePng(image).toString('base64') };
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
}

/** The client side, for tests and tools: one request at a time or many in flight. */
export class ControlClient {
  readonly #socket: Socket;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #buffered = '';
  #closedError: Error | null = null;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.setEncoding('utf8').on('data', (chunk: string) => this.#receive(chunk));
    socket.on('error', (err) => this.#fail(new ControlError(`control channel: ${err.message}`)));
    socket.on('close', () => this.#fail(new ControlError('control channel closed')));
  }

  static connect(path: string): Promise<ControlClient> {
    return new Promise((resolve, reject) => {
      const socket = createConnection(path);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new ControlClient(socket));
      });
      socket.once('error', reject);
    });
  }

  #receive(chunk: string): void {
    this.#buffered += chunk;
    for (let nl = this.#buffered.indexOf('\n'); nl >= 0; nl = this.#buffered.indexOf('\n')) {
      const line = this.#buffered.slice(0, nl);
      this.#buffered = this.#buffered.slice(nl + 1);
      const reply = JSON.parse(line) as {
        id: number;
        ok: boolean;
        result?: unknown;
        error?: { code: string; message: string };
      };
      const pending = this.#pending.get(reply.id);
      if (pending === undefined) continue;
      this.#pending.delete(reply.id);
      if (reply.ok) pending.resolve(reply.result);
      else pending.reject(new ControlError(`${reply.error?.code}: ${reply.error?.message}`));
    }
  }

  #fail(error: Error): void {
    this.#closedError ??= error;
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }

  /** Sends one request; rejects with ControlError on refusal or a lost channel. */
  call(op: string, params: Record<string, unknown> = {}): Promise<unknown> {
    if (this.#closedError !== null) return Promise.reject(this.#closedError);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#socket.write(`${JSON.stringify({ ...params, id, op })}\n`);
    });
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
    this.#closedError ??= new ControlError('control client closed');
    this.#socket.destroy();
  }
}

function decodePngResult(value: unknown): PngResult {
  const v = value as { width: number; height: number; png: string };
  return { width: v.width, height: v.height, png: Buffer.from(v.png, 'base64') };
}
