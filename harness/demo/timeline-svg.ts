// The demo's timeline as hand-written SVG, drawn from its own record (timeline-record.ts):
// on top, grants in use over time, stacked by client with the total as a line (steps:
// +1 when a pool is granted, −1 when its grant is freed); below, one lane per pool coloured by the
// evidence level it is at (E0…E3, ARCHITECTURE.md §2) until its grant is freed; a red line where
// the demo SIGKILLed a client. Every series and lane carries its data as attributes
// (data-steps, data-levels), so a test reads the plot's data from the rendered page.

import { ticks } from '../../policies/replay/index.js';
import type { EvidenceLevel } from '../../bridge/shm/index.js';
import type { DemoTimeline, PoolLane } from './timeline-record.js';

export const LEVEL_COLOURS: Readonly<Record<EvidenceLevel, string>> = {
  E0: '#6b7a99',
  E1: '#d4a72c',
  E2: '#e0803c',
  E3: '#3fb950',
};
const LEVEL_MEANING: Readonly<Record<EvidenceLevel, string>> = {
  E0: 'E0 a buffer is busy',
  E1: 'E1 all released',
  E2: 'E2 destroyed + acked',
  E3: 'E3 unmapped (/proc)',
};
export const KILL_COLOUR = '#ff5a4f';

/** How each client is shown: its name and colour (the same as on the window sheet). */
export interface ClientStyle {
  readonly name: string;
  readonly colour: string;
}

/** (time, grants in use) steps; starts at (0, 0), one point per change. */
export type Steps = readonly (readonly [number, number])[];

/** Grants in use over time, over `lanes` (all of them, or one client's). */
export function grantSteps(lanes: readonly PoolLane[]): Steps {
  const changes: [number, number][] = [];
  for (const lane of lanes) {
    if (lane.grantedAt === undefined) continue;
    changes.push([lane.grantedAt, 1]);
    if (lane.freedAt !== undefined) changes.push([lane.freedAt, -1]);
  }
  changes.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const steps: [number, number][] = [[0, 0]];
  let inUse = 0;
  for (const [t, delta] of changes) {
    inUse += delta;
    if (steps.at(-1)![0] === t) steps.at(-1)![1] = inUse;
    else steps.push([t, inUse]);
  }
  return steps;
}

/** Text and attribute values for HTML and SVG. */
export const escapeXml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const f = (n: number): string => n.toFixed(1);

const PAD = { left: 150, right: 20, top: 34, bottom: 30 };
const PLOT_H = 190;
const LANE_H = 5;
const LANE_GAP = 1;
const GROUP_GAP = 7;

export function renderTimelineSvg(
  timeline: DemoTimeline,
  style: (session: number) => ClientStyle,
  width = 1200,
): string {
  const end = Math.max(1, timeline.endAt);
  const x = (t: number): number =>
    PAD.left + (Math.min(t, end) / end) * (width - PAD.left - PAD.right);
  const parts: string[] = [];

  // Top: grants in use.
  const total = grantSteps(timeline.pools);
  const top = Math.max(1, ...total.map(([, v]) => v));
  const plotTop = PAD.top;
  const plotBottom = PAD.top + PLOT_H;
  const y = (v: number): number => plotBottom - (v / top) * (PLOT_H - 8);
  parts.push(`<text x="${PAD.left}" y="${plotTop - 12}" class="heading">grants in use</text>`);
  for (const v of ticks(top, 4)) {
    parts.push(
      `<line class="grid" x1="${PAD.left}" x2="${width - PAD.right}" y1="${f(y(v))}" y2="${f(y(v))}"/>`,
      `<text x="${PAD.left - 6}" y="${f(y(v) + 4)}" text-anchor="end">${v}</text>`,
    );
  }
  const path = (steps: Steps): string => {
    let d = `M${f(x(0))},${f(y(0))}`;
    for (const [t, v] of steps) d += `H${f(x(t))}V${f(y(v))}`;
    return `${d}H${f(x(end))}`;
  };
  const data = (steps: Steps): string => steps.map(([t, v]) => `${t.toFixed(1)}:${v}`).join(' ');
  // Each client's band, stacked in the order given, over every time anything changed.
  const times = total.map(([t]) => t);
  let below = times.map(() => 0);
  for (const client of timeline.clients) {
    const steps = grantSteps(timeline.pools.filter((p) => p.session === client.session));
    const own = valuesAt(steps, times);
    const above = own.map((v, k) => below[k]! + v);
    const { name, colour } = style(client.session);
    const killed =
      client.killedAt === undefined ? '' : ` data-killed="${client.killedAt.toFixed(1)}"`;
    parts.push(
      `<path class="series band${killed === '' ? '' : ' killed'}" data-client="${escapeXml(name)}" data-session="${client.session}"` +
        `${killed} data-steps="${data(steps)}" fill="${colour}" d="${band(times, below, above, x, y, end)}">` +
        `<title>${escapeXml(name)}: grants in use</title></path>`,
    );
    below = above;
  }
  parts.push(
    `<path class="series total" data-client="all" data-steps="${data(total)}" d="${path(total)}"><title>all clients</title></path>`,
  );
  // Where each SIGKILLed client's last grant came back.
  for (const client of timeline.clients) {
    if (client.killedAt === undefined) continue;
    const freed = timeline.pools
      .filter((p) => p.session === client.session && p.grantedAt !== undefined)
      .map((p) => p.freedAt ?? Infinity);
    const last = Math.max(...freed);
    if (freed.length === 0 || !Number.isFinite(last)) continue;
    parts.push(
      `<circle class="back" cx="${f(x(last))}" cy="${f(y(0))}" r="4"/>`,
      `<text x="${f(x(last) - 8)}" y="${f(y(0) + 16)}" text-anchor="end" fill="${KILL_COLOUR}">${escapeXml(style(client.session).name)}'s grants back (+${(last - client.killedAt).toFixed(0)} ms)</text>`,
    );
  }

  // Below: a lane per pool, grouped by client, coloured by its evidence level.
  let laneY = plotBottom + PAD.bottom + 24;
  parts.push(
    `<text x="${PAD.left}" y="${laneY - 10}" class="heading">pools: evidence level until the grant is freed</text>`,
  );
  for (const client of timeline.clients) {
    const lanes = timeline.pools
      .filter((p) => p.session === client.session)
      .sort((a, b) => a.createdAt - b.createdAt);
    if (lanes.length === 0) continue;
    const { name, colour } = style(client.session);
    const groupH = lanes.length * (LANE_H + LANE_GAP) - LANE_GAP;
    parts.push(
      `<text x="${PAD.left - 8}" y="${f(laneY + Math.min(groupH, 10) / 2 + 4)}" text-anchor="end" fill="${colour}">${escapeXml(name)}</text>`,
    );
    for (const lane of lanes) {
      parts.push(poolLane(lane, name, laneY, x, end));
      laneY += LANE_H + LANE_GAP;
    }
    laneY += GROUP_GAP;
  }
  const height = laneY + 36;

  // Across both: when a client was SIGKILLed.
  for (const client of timeline.clients) {
    if (client.killedAt === undefined) continue;
    const kx = f(x(client.killedAt));
    parts.push(
      `<line class="kill" x1="${kx}" x2="${kx}" y1="${plotTop - 6}" y2="${laneY}"/>`,
      `<text x="${f(x(client.killedAt) + 4)}" y="${plotTop + 6}" fill="${KILL_COLOUR}">SIGKILL ${escapeXml(style(client.session).name)}</text>`,
    );
  }
  // Time axis under the lanes.
  for (const t of ticks(end / 1000, 8)) {
    parts.push(
      `<text x="${f(x(t * 1000))}" y="${laneY + 18}" text-anchor="middle">${+t.toFixed(3)} s</text>`,
      `<line class="grid" x1="${f(x(t * 1000))}" x2="${f(x(t * 1000))}" y1="${plotBottom}" y2="${plotBottom + 4}"/>`,
    );
  }
  const legend = (Object.keys(LEVEL_COLOURS) as EvidenceLevel[]).map(
    (level, i) =>
      `<rect x="${PAD.left + i * 170}" y="${laneY + 26}" width="12" height="8" fill="${LEVEL_COLOURS[level]}"/>` +
      `<text x="${PAD.left + i * 170 + 16}" y="${laneY + 34}">${LEVEL_MEANING[level]}</text>`,
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" id="timeline" width="${width}" height="${height + 20}" viewBox="0 0 ${width} ${height + 20}" data-end="${end.toFixed(1)}">
<style>
text{font:11px system-ui,sans-serif;fill:#a8b0bc} text.heading{font-size:13px;fill:#f0f0f0}
.grid{stroke:#2c313a} .band{fill-opacity:.85;stroke:#15171c;stroke-width:.5}
.series.total{fill:none;stroke:#f0f0f0;stroke-width:2} .series.killed{stroke:${KILL_COLOUR};stroke-width:1.5}
.kill{stroke:${KILL_COLOUR};stroke-dasharray:4 3} .back{fill:${KILL_COLOUR}}
</style>
${parts.join('\n')}
${legend.join('\n')}
</svg>`;
}

/** The value of a step function at each of `times` (sorted). */
export function valuesAt(steps: Steps, times: readonly number[]): number[] {
  let k = 0;
  return times.map((t) => {
    while (k + 1 < steps.length && steps[k + 1]![0] <= t) k++;
    return steps[k]![1];
  });
}

/** A filled band between two step functions sampled at `times`. */
function band(
  times: readonly number[],
  lower: readonly number[],
  upper: readonly number[],
  x: (t: number) => number,
  y: (v: number) => number,
  end: number,
): string {
  let d = `M${f(x(times[0]!))},${f(y(upper[0]!))}`;
  for (let k = 1; k < times.length; k++) d += `H${f(x(times[k]!))}V${f(y(upper[k]!))}`;
  d += `H${f(x(end))}V${f(y(lower.at(-1)!))}`;
  for (let k = times.length - 1; k >= 1; k--) d += `H${f(x(times[k]!))}V${f(y(lower[k - 1]!))}`;
  return `${d}H${f(x(times[0]!))}Z`;
}

function poolLane(
  lane: PoolLane,
  client: string,
  y: number,
  x: (t: number) => number,
  end: number,
): string {
  const stop = lane.freedAt ?? end;
  const rects: string[] = [];
  lane.levels.forEach((step, i) => {
    const next = Math.min(lane.levels[i + 1]?.t ?? stop, stop);
    if (next < step.t) return;
    const w = Math.max(1, x(next) - x(step.t));
    rects.push(
      `<rect x="${f(x(step.t))}" y="${y}" width="${f(w)}" height="${LANE_H}" fill="${LEVEL_COLOURS[step.level]}"/>`,
    );
  });
  const freed = lane.freedAt === undefined ? '' : ` data-freed="${lane.freedAt.toFixed(1)}"`;
  const levels = lane.levels.map((s) => s.level).join(' ');
  const title = `${client}, pool ${lane.poolKey} (${lane.size} bytes): ${levels}${lane.freedAt === undefined ? ', grant never freed' : `, grant freed at ${lane.freedAt.toFixed(1)} ms`}`;
  return `<g class="pool" data-client="${escapeXml(client)}" data-levels="${levels}"${freed}><title>${escapeXml(title)}</title>${rects.join('')}</g>`;
}
