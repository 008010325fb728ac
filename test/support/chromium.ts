// Headless Chromium for the tests of the HTML the project writes (the policy bench's
// report, the demo's page): the DOM after load with scripts run, and a screenshot, as a
// user's browser would show them. A fresh profile each time, removed after.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CHROMIUM = '/usr/bin/chromium';

/** Whether Debian's chromium is installed (CI: apt-get install chromium). */
export const chromiumAvailable = existsSync(CHROMIUM);

/** Runs headless Chromium on `url` with `args`; resolves with its stdout. */
function runChromium(args: readonly string[], url: string): Promise<string> {
  const profile = mkdtempSync(join(tmpdir(), 'grantway-chromium-'));
  return new Promise<string>((resolve, reject) => {
    const child = spawn(
      CHROMIUM,
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        `--user-data-dir=${profile}`,
        ...args,
        url,
      ],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), 45_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      rmSync(profile, { recursive: true, force: true });
      if (code === 0) resolve(out);
      else reject(new Error(`chromium exited with ${code}`));
    });
  });
}

/** `chromium --headless --dump-dom`: the DOM after load, scripts run. */
export function dumpDom(url: string): Promise<string> {
  return runChromium(['--dump-dom'], url);
}

/** A PNG screenshot of the page's top `width` × `height` CSS pixels, one pixel each. */
export async function screenshot(
  url: string,
  path: string,
  width: number,
  height: number,
): Promise<void> {
  await runChromium(
    [
      `--screenshot=${path}`,
      `--window-size=${width},${height}`,
      '--force-device-scale-factor=1',
      '--hide-scrollbars',
    ],
    url,
  );
}
