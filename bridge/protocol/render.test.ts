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

  it('imports the types from the path it is given', () => {
    const rendered = renderProtocolModule({ name: 'p', interfaces: [] }, 'h', '../../types.js');
    expect(rendered).toContain("import type { ProtocolSpec } from '../../types.js';");
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
        { path: `wayland/${protocolModuleStem('wayland')}` },
        { path: `wayland-protocols/${protocolModuleStem('xdg_shell')}` },
      ],
      'index header',
    );
    expect(rendered).toBe(
      [
        '// index header',
        "import type { ProtocolSpec } from '../types.js';",
        "import { protocol as waylandWayland } from './wayland/wayland.js';",
        "import { protocol as waylandProtocolsXdgShell } from './wayland-protocols/xdg-shell.js';",
        '',
        'export const builtinProtocols: readonly ProtocolSpec[] = [',
        '  waylandWayland,',
        '  waylandProtocolsXdgShell,',
        '];',
        '',
      ].join('\n'),
    );
  });

  it('refuses two protocols that would share a binding', () => {
    expect(() => renderIndexModule([{ path: 'f/a-b' }, { path: 'f/a--b' }], 'h')).toThrow(
      /same binding/,
    );
  });
});
