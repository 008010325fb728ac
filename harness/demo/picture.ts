// Writes the demo's picture: the PNG sheet of every client's window (as the embedded
// compositor last showed it: it writes each window's PNG as the window goes) with a
// label per client and a strip of grants in use under them, and beside it the HTML page
// with the windows, the full timeline and the summary. Names, colours and fates come from the run's record (timeline-record.ts).

import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { decodePng, encodePng, type RgbaImage } from '../compositor/png.js';
import { renderDemoHtml } from './picture-html.js';
import { appendGrantStrip } from './picture-timeline.js';
import { ALARM, composeSheet, type PlacedTile, type SheetTile } from './picture-sheet.js';
import type { ClientRecord, DemoTimeline } from './timeline-record.js';
import { type ClientStyle, renderTimelineSvg } from './timeline-svg.js';

const PALETTE = [
  0x4ea1ff, 0xe0a020, 0xb58cff, 0x2fc2b0, 0xff8fb1, 0x9ccc65, 0xffd166, 0x8ecae6, 0xf4a261,
  0xc77dff, 0x90be6d, 0x66d9e8,
];

export interface DemoPictureInput {
  readonly timeline: DemoTimeline;
  /** Where the compositor wrote `window-N-TITLE.png` for each window as it went. */
  readonly windowDir: string;
  /**
   * How the clients draw, by window-title prefix, in the order the sheet shows them
   * (clients matching none come last, in the order they connected).
   */
  readonly roles: readonly (readonly [prefix: string, role: string])[];
  /** Lines at the top of the sheet (the first one large). */
  readonly heading: readonly string[];
  /** Rows of the HTML page's summary table. */
  readonly summary: readonly (readonly [string, string])[];
  readonly pngPath: string;
  /** The HTML page; undefined: none. */
  readonly htmlPath: string | undefined;
}

export interface DemoPicture {
  readonly pngPath: string;
  readonly htmlPath: string | undefined;
  readonly width: number;
  readonly height: number;
  /** Height of the windows alone (the PNG adds a grants strip; the page has the SVG). */
  readonly sheetHeight: number;
  /** Where each client's window is on the sheet (and on the page: the sheet is at 0,0). */
  readonly tiles: readonly (PlacedTile & { readonly session: number })[];
}

/** The compositor's file name for a window's PNG (server.ts, saveWindow). */
const fileLabel = (title: string): string => title.replace(/[^A-Za-z0-9._-]+/g, '_');

export function writeDemoPicture(input: DemoPictureInput): DemoPicture {
  const { timeline } = input;
  const windows = windowFiles(input.windowDir);
  const styles = new Map<number, ClientStyle & { accent: number }>();
  timeline.clients.forEach((c, i) => {
    const accent = c.killedAt === undefined ? PALETTE[i % PALETTE.length]! : ALARM;
    styles.set(c.session, {
      name: c.title ?? `client ${c.session}`,
      colour: `#${accent.toString(16).padStart(6, '0')}`,
      accent,
    });
  });
  const style = (session: number): ClientStyle =>
    styles.get(session) ?? { name: `client ${session}`, colour: '#a8b0bc' };

  const rank = (c: ClientRecord): number => {
    const i = input.roles.findIndex(([prefix]) => c.title?.startsWith(prefix) === true);
    return i < 0 ? input.roles.length : i;
  };
  const role = (c: ClientRecord): string => input.roles[rank(c)]?.[1] ?? 'a client';
  const clients = [...timeline.clients].sort((a, b) => rank(a) - rank(b) || a.session - b.session);
  const tiles: SheetTile[] = clients.map((client) => ({
    title: style(client.session).name,
    lines: labelLines(client, timeline, role(client)),
    image: client.title === undefined ? undefined : takeWindow(windows, client.title),
    accent: styles.get(client.session)!.accent,
    alarm: client.killedAt !== undefined,
  }));
  const { image, placed } = composeSheet(input.heading, tiles);
  const full = appendGrantStrip(image, { ...timeline, clients }, (s) => styles.get(s)!.accent);
  mkdirSync(dirname(input.pngPath), { recursive: true });
  writeFileSync(input.pngPath, encodePng(full));
  if (input.htmlPath !== undefined) {
    mkdirSync(dirname(input.htmlPath), { recursive: true });
    writeFileSync(
      input.htmlPath,
      renderDemoHtml({
        // The timeline lists clients in the sheet's order.
        title: 'grantway demo',
        sheetPng: encodePng(image),
        sheetWidth: image.width,
        sheetHeight: image.height,
        timelineSvg: renderTimelineSvg(
          { ...timeline, clients },
          style,
          Math.max(900, image.width - 40),
        ),
        summary: input.summary,
      }),
    );
  }
  return {
    pngPath: input.pngPath,
    htmlPath: input.htmlPath,
    width: full.width,
    height: full.height,
    sheetHeight: image.height,
    tiles: placed.map((p) => ({ ...p, session: clients[p.index]!.session })),
  };
}

/** Under the title: the bridge's mode and how it draws; frames and grants; its fate. */
function labelLines(client: ClientRecord, timeline: DemoTimeline, role: string): string[] {
  const lanes = timeline.pools.filter((p) => p.session === client.session);
  const granted = lanes.filter((p) => p.grantedAt !== undefined);
  const held = granted.filter((p) => p.freedAt === undefined).length;
  const lastFree = Math.max(...granted.map((p) => p.freedAt ?? 0));
  const end = client.killedAt ?? client.goneAt;
  const grants = `${granted.length} grant${granted.length === 1 ? '' : 's'}`;
  const how = client.killedAt === undefined ? 'left' : 'SIGKILLed mid-frame';
  let back: string;
  if (held > 0) back = `${held} never freed`;
  else if (granted.length === 0) back = 'no grant';
  else if (end === undefined || lastFree <= end) back = 'all back before';
  else
    back = `${granted.length === 1 ? 'grant' : 'all'} back ${(lastFree - end).toFixed(0)} ms after`;
  return [
    `${timeline.mode} mode · ${role}`,
    `${client.commits} frames · ${grants}`,
    `${how}: ${back}`,
  ];
}

interface WindowFile {
  readonly order: number;
  readonly label: string;
  readonly path: string;
  taken: boolean;
}

function windowFiles(dir: string): WindowFile[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const files: WindowFile[] = [];
  for (const name of names) {
    const m = /^window-(\d+)-(.+)\.png$/.exec(name);
    if (m !== null)
      files.push({ order: Number(m[1]), label: m[2]!, path: join(dir, name), taken: false });
  }
  return files.sort((a, b) => a.order - b.order);
}

/** The first window written with this title not yet given to a client. */
function takeWindow(files: WindowFile[], title: string): RgbaImage | undefined {
  const file = files.find((f) => !f.taken && f.label === fileLabel(title));
  if (file === undefined) return undefined;
  file.taken = true;
  return decodePng(readFileSync(file.path));
}
