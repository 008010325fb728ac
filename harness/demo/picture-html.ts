// The demo's HTML page: the window sheet (the PNG, embedded), the timeline (inline SVG)
// and the summary table, in one self-contained file — nothing fetched from anywhere.
// The sheet sits at the page's top-left corner at its own size, so a screenshot of the
// page shows each window where the PNG has it. A few lines of inline script only
// annotate <body> with what the browser drew, which the Chromium test reads back.

import { escapeXml } from './timeline-svg.js';

export interface DemoPage {
  readonly title: string;
  readonly sheetPng: Buffer;
  readonly sheetWidth: number;
  readonly sheetHeight: number;
  readonly timelineSvg: string;
  readonly summary: readonly (readonly [string, string])[];
}

export function renderDemoHtml(page: DemoPage): string {
  const rows = page.summary
    .map(([k, v]) => `<tr><th>${escapeXml(k)}</th><td>${escapeXml(v)}</td></tr>`)
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeXml(page.title)}</title>
<style>
body{margin:0;background:#15171c;color:#e6e6e6;font:14px/1.4 system-ui,sans-serif}
#windows{display:block} main{padding:0 20px 24px}
h2{font-size:1.05em;margin:1.2em 0 .4em;color:#f0f0f0}
table{border-collapse:collapse;font-size:13px} th{text-align:left;color:#a8b0bc;font-weight:normal;padding:2px 14px 2px 0}
td{font-variant-numeric:tabular-nums}
</style></head>
<body>
<img id="windows" alt="every client's window as the compositor showed it last" width="${page.sheetWidth}" height="${page.sheetHeight}" src="data:image/png;base64,${page.sheetPng.toString('base64')}">
<main>
<h2>Timeline</h2>
${page.timelineSvg}
<h2>Summary</h2>
<table>
${rows}
</table>
</main>
<script>
// Self-check for tests: what was drawn, measured by the browser's own layout.
function annotate() {
  var series = document.querySelectorAll('#timeline path.series');
  var drawn = 0;
  series.forEach(function (p) { var b = p.getBBox(); if (b.width > 0) drawn++; });
  var lanes = 0;
  document.querySelectorAll('#timeline g.pool').forEach(function (g) { if (g.getBBox().width > 0) lanes++; });
  var img = document.getElementById('windows');
  document.body.setAttribute('data-series', String(series.length));
  document.body.setAttribute('data-drawn', String(drawn));
  document.body.setAttribute('data-lanes', String(lanes));
  document.body.setAttribute('data-sheet', img.naturalWidth + 'x' + img.naturalHeight);
}
annotate();
window.addEventListener('load', annotate);
</script>
</body></html>
`;
}
