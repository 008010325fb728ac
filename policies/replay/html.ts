// `grantway bench policies --html FILE`: the bench as one self-contained HTML file —
// no scripts or styles fetched from anywhere — with, for every trace and remote model,
// a plot of grants in use over time, one line per policy (hand-written inline SVG),
// and the full table. A few lines of inline script only annotate <body> with what was
// drawn (series and points with a non-empty box), which the Chromium test reads back.

import type { BenchRow } from './bench.js';
import { TABLE_COLUMNS, tableCells } from './table.js';

const COLOURS = ['#d62728', '#ff7f0e', '#2ca02c', '#17becf', '#9467bd', '#8c564b', '#e377c2'];
const W = 640;
const H = 220;
const PAD = { left: 56, right: 12, top: 10, bottom: 28 };

const escape = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** 1, 2, 5 × 10^k steps giving about `n` ticks up to `max`. */
export function ticks(max: number, n: number): number[] {
  if (max <= 0) return [0];
  const raw = max / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = 0; v <= max + 1e-9; v += step) out.push(v);
  return out;
}

/** One plot: grants in use (refs) against time, a polyline per policy. */
function plot(rows: readonly BenchRow[], labels: readonly string[]): string {
  const end = Math.max(1, ...rows.map((r) => r.durationMs));
  const top = Math.max(1, ...rows.flatMap((r) => r.series.map(([, v]) => v)));
  const x = (t: number): number => PAD.left + (t / end) * (W - PAD.left - PAD.right);
  const y = (v: number): number => H - PAD.bottom - (v / top) * (H - PAD.top - PAD.bottom);
  const parts: string[] = [];
  for (const v of ticks(top, 4)) {
    parts.push(
      `<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" class="grid"/>`,
      `<text x="${PAD.left - 4}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${v}</text>`,
    );
  }
  for (const t of ticks(end / 1000, 6)) {
    parts.push(
      `<text x="${x(t * 1000).toFixed(1)}" y="${H - 8}" text-anchor="middle">${+t.toFixed(3)} s</text>`,
    );
  }
  rows.forEach((r) => {
    const colour = COLOURS[labels.indexOf(r.label) % COLOURS.length]!;
    // A step line: each value holds until the next sample.
    const pts: string[] = [];
    let last = 0;
    pts.push(`${x(0).toFixed(1)},${y(0).toFixed(1)}`);
    for (const [t, v] of r.series) {
      pts.push(`${x(t).toFixed(1)},${y(last).toFixed(1)}`, `${x(t).toFixed(1)},${y(v).toFixed(1)}`);
      last = v;
    }
    pts.push(`${x(end).toFixed(1)},${y(last).toFixed(1)}`);
    parts.push(
      `<polyline class="series" data-policy="${escape(r.label)}" data-samples="${r.series.length}" stroke="${colour}" points="${pts.join(' ')}"><title>${escape(r.label)}</title></polyline>`,
    );
  });
  return `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img">${parts.join('')}</svg>`;
}

function legend(labels: readonly string[]): string {
  return `<p class="legend">${labels
    .map(
      (l, i) =>
        `<span><i style="background:${COLOURS[i % COLOURS.length]}"></i>${escape(l)}</span>`,
    )
    .join(' ')}</p>`;
}

function table(rows: readonly BenchRow[]): string {
  const head = TABLE_COLUMNS.map((c) => `<th>${escape(c)}</th>`).join('');
  const body = rows
    .map((r) => {
      const cells = tableCells(r)
        .map((c, i) => `<td${i >= 3 ? ' class="n"' : ''}>${escape(c)}</td>`)
        .join('');
      return `<tr${r.unsafe > 0 ? ' class="bad"' : ''}>${cells}</tr>`;
    })
    .join('\n');
  return `<table><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

export interface HtmlReportOptions {
  readonly title?: string;
  /** When the bench ran (ISO), for the page header. */
  readonly generatedAt?: string;
}

export function renderHtmlReport(
  rows: readonly BenchRow[],
  options: HtmlReportOptions = {},
): string {
  const title = options.title ?? 'grantway — reclaim policy bench';
  const labels = [...new Set(rows.map((r) => r.label))];
  const sections: string[] = [];
  const traces = [...new Set(rows.map((r) => r.trace))];
  for (const trace of traces) {
    const ofTrace = rows.filter((r) => r.trace === trace);
    const first = ofTrace[0]!;
    const figures = [...new Set(ofTrace.map((r) => r.remote))].map((remote) => {
      const group = ofTrace.filter((r) => r.remote === remote);
      return `<figure><figcaption>remote model <b>${escape(remote)}</b></figcaption>${plot(group, labels)}</figure>`;
    });
    sections.push(
      `<section><h2>${escape(trace)} <small>(${first.traceKind}, ${first.pools} pools, ${(first.durationMs / 1000).toFixed(2)} s, ${first.traceRefsPerSecond} refs/s)</small></h2>${figures.join('')}</section>`,
    );
  }
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h2{font-size:1.1em;margin:1.5em 0 .3em} small{color:#666;font-weight:normal}
figure{display:inline-block;margin:.3em 1em .3em 0} figcaption{font-size:.9em;color:#444}
svg{background:#fafafa;border:1px solid #ddd} svg text{font-size:10px;fill:#555}
.grid{stroke:#e4e4e4} .series{fill:none;stroke-width:1.5;stroke-opacity:.8}
.legend span{margin-right:1em;white-space:nowrap} .legend i{display:inline-block;width:1em;height:.6em;margin-right:.3em}
table{border-collapse:collapse;font-size:12px;margin-top:1em} td,th{padding:2px 6px;border-bottom:1px solid #eee}
td.n{text-align:right;font-variant-numeric:tabular-nums} tr.bad{background:#fdd}
</style></head>
<body>
<h1>${escape(title)}</h1>
<p>Grants in use (refs) over each trace's duration, per policy, replayed against each simulated remote model.
Latency is from the remote's true unmap to the reclaim. ${options.generatedAt === undefined ? '' : `Generated ${escape(options.generatedAt)}.`}</p>
${legend(labels)}
${sections.join('\n')}
<h2>All results</h2>
${table(rows)}
<script>
// Self-check for tests: what was drawn, measured by the browser's own layout.
(function () {
  var lines = document.querySelectorAll('polyline.series');
  var drawn = 0, points = 0;
  lines.forEach(function (l) {
    var box = l.getBBox();
    if (box.width > 0 && l.points.numberOfItems > 1) drawn++;
    points += l.points.numberOfItems;
  });
  document.body.setAttribute('data-series', String(lines.length));
  document.body.setAttribute('data-drawn', String(drawn));
  document.body.setAttribute('data-points', String(points));
})();
</script>
</body></html>
`;
}
