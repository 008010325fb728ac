// Golden test for the table generator: the hand-written fixture protocol must render to
// the committed module byte for byte. UPDATE_GOLDEN=1 rewrites the golden file instead.

import { readFile, writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { protocolModuleStem, renderIndexModule, renderProtocolModule } from './render.js';
import { parseProtocolXml } from './xml.js';

const FIXTURE_URL = new URL('../../fixtures/protocols/test-protocol.xml', import.meta.url);
const GOLDEN_URL = new URL('../../fixtures/protocols/test-protocol.golden.ts.txt', import.meta.url);
const HEADER = 'Generated from fixtures/protocols/test-protocol.xml for the golden test.';

async function renderFixture(): Promise<string> {
  const xml = await readFile(FIXTURE_URL, 'utf8');
  return renderProtocolModule(parseProtocolXml(xml, 'test-protocol.xml'), HEADER);
}

describe('renderProtocolModule', () => {
  it('renders the fixture protocol exactly as the golden file', async () => {
    const rendered = await renderFixture();
    if (process.env.UPDATE_GOLDEN === '1') await writeFile(GOLDEN_URL, rendered);
    expect(rendered).toBe(await readFile(GOLDEN_URL, 'utf8'));
  });

  it('carries no documentation text from the XML', async () => {
    const rendered = await renderFixture();
    expect(rendered).not.toMatch(/MUST-NOT-APPEAR|summary|description|copyright/i);
  });

  it('is deterministic', async () => {
    expect(await renderFixture()).toBe(await renderFixture());
  });

  it('escapes quotes and backslashes in names', () => {
    const rendered = renderProtocolModule({ name: "it's\\odd", interfaces: [] }, 'h');
    expect(rendered).toContain("name: 'it\\'s\\\\odd',");
  });
});

describe('renderIndexModule', () => {
  it('imports each module and lists it in the order given', () => {
    const rendered = renderIndexModule(
      [
        { stem: protocolModuleStem('wayland'), protocolName: 'wayland' },
        { stem: protocolModuleStem('xdg_shell'), protocolName: 'xdg_shell' },
      ],
      'index header',
    );
    expect(rendered).toBe(
      [
        '// index header',
        "import type { ProtocolSpec } from '../types.js';",
        "import { protocol as wayland } from './wayland.js';",
        "import { protocol as xdgShell } from './xdg-shell.js';",
        '',
        'export const builtinProtocols: readonly ProtocolSpec[] = [',
        '  wayland,',
        '  xdgShell,',
        '];',
        '',
      ].join('\n'),
    );
  });

  it('refuses two protocols that would share a binding', () => {
    expect(() =>
      renderIndexModule(
        [
          { stem: 'a-b', protocolName: 'a_b' },
          { stem: 'a--b', protocolName: 'a__b' },
        ],
        'h',
      ),
    ).toThrow(/same binding/);
  });
});
