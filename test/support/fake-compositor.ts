// A stand-in compositor for relay tests: it accepts connections on a real socket and
// hands each one to the test as a RawPeer, which then plays the compositor's part
// message by message.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WaylandListener } from '../../bridge/relay/listener.js';
import { RawPeer } from './raw-peer.js';

export class FakeCompositor {
  readonly dir: string;
  readonly path: string;
  readonly connections: RawPeer[] = [];
  private readonly listener: WaylandListener;

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'gw-fake-'));
    this.path = join(this.dir, 'compositor');
    this.listener = WaylandListener.open(this.path, (fd) => this.connections.push(new RawPeer(fd)));
  }

  async connection(index: number, timeoutMs = 5000): Promise<RawPeer> {
    const deadline = Date.now() + timeoutMs;
    while (this.connections[index] === undefined) {
      if (Date.now() > deadline) throw new Error(`no upstream connection #${index}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return this.connections[index];
  }

  close(): void {
    for (const peer of this.connections) peer.close();
    this.listener.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
