// A demo client that paints frames until it is killed: the parent SIGKILLs it mid-frame
// to show that a client dying with buffers in flight leaves no grant behind. Prints
// "frame N" after each frame so the parent knows how far it got.
// Usage: node victim.js SOCKET_PATH

import { ScriptedWindow } from '../client/scripted-client.js';
import { victimColour } from './colours.js';

async function main(socketPath: string): Promise<void> {
  const window = await ScriptedWindow.open(socketPath, { title: 'victim' });
  const pool = window.createPool(2 * 160 * 120 * 4);
  const buffers = [0, 160 * 120 * 4].map((offset) => window.createBuffer(pool, 160, 120, offset));
  for (let frame = 0; ; frame++) {
    const buffer = buffers[frame % 2]!;
    buffer.fill(victimColour(frame));
    await window.commit(buffer);
    process.stdout.write(`frame ${frame}\n`);
  }
}

main(process.argv[2] ?? '').catch((err: unknown) => {
  process.stderr.write(`victim: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
