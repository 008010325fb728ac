// Request/response over a unix socket, one JSON object per line: the framing shared by
// the control channels of the embedded compositor and of a running bridge. No fds travel
// here, so node:net is enough.
//
// Request:  {"id": 1, "op": "…", …params}
// Response: {"id": 1, "ok": true, "result": …}
// Failure:  {"id": 1, "ok": false, "error": {"code": "…", "message": "…"}}

import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { closePrivately, listenPrivately, tryUnlink } from './private-socket.js';

/** Answers one parsed request; what it throws is sent back as the failure. */
export type RequestHandler = (request: unknown) => unknown;

export interface JsonLinesServerOptions {
  /**
   * The socket file's mode (e.g. 0o600). It is bound under a temporary name, given the
   * mode, then renamed into place, so nobody can connect before the mode is set.
   */
  readonly mode?: number;
  /** Runs once the answer to a request has been written (e.g. to crash on purpose). */
  readonly afterAnswer?: (request: unknown) => void;
}

/** Serves `handle` on `path` until close(). A file at `path` is replaced. */
export class JsonLinesServer {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  private constructor(
    readonly path: string,
    private readonly handle: RequestHandler,
    private readonly options: JsonLinesServerOptions,
  ) {
    this.#server = createServer((socket) => this.#serve(socket));
  }

  static async listen(
    path: string,
    handle: RequestHandler,
    options: JsonLinesServerOptions = {},
  ): Promise<JsonLinesServer> {
    const server = new JsonLinesServer(path, handle, options);
    if (options.mode !== undefined) {
      await listenPrivately(server.#server, path, options.mode);
      return server;
    }
    tryUnlink(path);
    await new Promise<void>((resolve, reject) => {
      server.#server.once('error', reject);
      server.#server.listen(path, () => {
        server.#server.off('error', reject);
        resolve();
      });
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
      const result = await this.handle(json);
      socket.write(`${JSON.stringify({ id, ok: true, result })}\n`, () =>
        this.options.afterAnswer?.(json),
      );
    } catch (err) {
      const error =
        err instanceof Error
          ? { code: 'code' in err ? String(err.code) : 'ERR_INTERNAL', message: err.message }
          : { code: 'ERR_INTERNAL', message: String(err) };
      if (!socket.destroyed) socket.write(`${JSON.stringify({ id, ok: false, error })}\n`);
    }
  }

  /** Stops serving, drops every connection and removes the socket file. */
  close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    if (this.options.mode !== undefined) return closePrivately(this.#server, this.path);
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
}

/** The client side: one request at a time or many in flight. */
export class JsonLinesClient {
  readonly #socket: Socket;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #buffered = '';
  #closedError: Error | null = null;

  private constructor(
    socket: Socket,
    /** Makes the error a call rejects with (each channel has its own error class). */
    private readonly makeError: (message: string) => Error,
  ) {
    this.#socket = socket;
    socket.setEncoding('utf8').on('data', (chunk: string) => this.#receive(chunk));
    socket.on('error', (err) => this.#fail(makeError(`control channel: ${err.message}`)));
    socket.on('close', () => this.#fail(makeError('control channel closed')));
  }

  static connect(path: string, makeError: (message: string) => Error): Promise<JsonLinesClient> {
    return new Promise((resolve, reject) => {
      const socket = createConnection(path);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new JsonLinesClient(socket, makeError));
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
      else pending.reject(this.makeError(`${reply.error?.code}: ${reply.error?.message}`));
    }
  }

  #fail(error: Error): void {
    this.#closedError ??= error;
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }

  /** Sends one request; rejects on refusal or a lost channel. */
  call(op: string, params: Record<string, unknown> = {}): Promise<unknown> {
    if (this.#closedError !== null) return Promise.reject(this.#closedError);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#socket.write(`${JSON.stringify({ ...params, id, op })}\n`);
    });
  }

  close(): void {
    this.#closedError ??= this.makeError('control client closed');
    this.#socket.destroy();
  }
}
