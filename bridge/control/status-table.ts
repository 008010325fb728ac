// `grantway status` as a person reads it: a few summary lines (the proxy, its clients and
// traffic, shared memory and grants, what waits longest and why) over a table of clients.
// Pure: a snapshot in, text out.

import { evidenceLevels } from '../shm/events.js';
import type { BridgeSnapshot, EvidenceCounts } from '../ops/snapshot.js';

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function formatBytes(n: number): string {
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${n} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

export function formatCount(n: number): string {
  if (n < 10_000) return String(n);
  if (n < 10_000_000) return `${(n / 1000).toFixed(1)}k`;
  return `${(n / 1_000_000).toFixed(1)}M`;
}

export function formatSeconds(s: number): string {
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.floor(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

function byEvidence(counts: EvidenceCounts): string {
  return evidenceLevels.map((l) => `${l} ${counts[l]}`).join(', ');
}

function total(counts: EvidenceCounts): number {
  return evidenceLevels.reduce((sum, l) => sum + counts[l], 0);
}

function pairs(record: Readonly<Record<string, number>>): string {
  const entries = Object.entries(record).filter(([, n]) => n > 0);
  return entries.length === 0 ? 'none' : entries.map(([k, n]) => `${k} ${n}`).join(', ');
}

/** Columns, each padded to its widest cell (the last one left ragged). */
function table(rows: readonly (readonly string[])[]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) =>
    r
      .map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
}

export function formatStatus(s: BridgeSnapshot): string {
  const { relay, shm } = s;
  const lines: string[] = [];
  const modeLine =
    s.mode === 'grant' ? `grant mode (${s.backend ?? '?'}), policy ${s.policy ?? 'none'}` : s.mode;
  lines.push(
    `grantway proxy, pid ${s.pid}, up ${formatSeconds(s.uptimeSeconds)}: ${s.listen} -> ${s.upstream}, ${modeLine}`,
  );
  lines.push(
    `clients    ${s.clients.length} of ${s.limits.proxy.maxClients} (accepted ${relay.accepted}, refused: ${pairs(relay.refused)})`,
  );
  lines.push(
    `relayed    requests ${formatCount(relay.requests)} (${formatBytes(relay.bytesToCompositor)}), events ${formatCount(relay.events)} (${formatBytes(relay.bytesToClient)})`,
  );
  const errors =
    relay.protocolErrors.length === 0
      ? 'none'
      : relay.protocolErrors
          .map((e) => `${e.by} ${e.interface} code ${e.code} x${e.count}`)
          .join(', ');
  lines.push(`errors     ${errors}; limits hit: ${pairs(relay.limitsHit)}`);
  lines.push(
    `shm        ${formatBytes(shm.heldBytes)} held of ${formatBytes(s.limits.proxy.maxShmTotalAll ?? 0)}; pools ${total(shm.pools)} (${byEvidence(shm.pools)}), ${shm.poolsLetGo} let go`,
  );
  const p = shm.grantPhases;
  lines.push(
    `grants     ${total(shm.grants)} (${byEvidence(shm.grants)}): backing ${p.backing}, retired ${p.retired}, cached ${p.cached}, ended ${p.ended}; refs in use ${shm.refs.inUse}, deferred ${shm.refs.deferred} (peak ${shm.refs.deferredPeak}), reused ${shm.grantsReused}`,
  );
  lines.push(
    `reclaim    end access ${shm.endAccess.attempts} attempts, ${shm.endAccess.failures} failed; copies ${formatCount(shm.copies.commits)} (${formatBytes(shm.copies.bytes)}, ${shm.copies.seconds.toFixed(2)} s)`,
  );
  const w = shm.oldestWaiting;
  if (w === null) {
    lines.push(`waiting    nothing (${shm.extentsWaiting} extents)`);
  } else {
    const what = w.pool !== null ? `client ${w.client} pool ${w.pool}` : `grant ${w.grant ?? '?'}`;
    lines.push(
      `waiting    ${shm.extentsWaiting} extents; oldest ${what}, ${formatBytes(w.bytes)}, ${formatSeconds(w.waitingSeconds)} at ${w.evidence}: ${w.why}`,
    );
  }
  lines.push('');
  const rows: string[][] = [
    ['SESSION', 'PID', 'UID', 'COMM', 'AGE', 'POOLS', 'OBJECTS', 'FDS', 'REQUESTS', 'EVENTS'],
  ];
  for (const c of s.clients) {
    rows.push([
      String(c.session),
      String(c.pid),
      String(c.uid),
      c.comm ?? '?',
      formatSeconds(c.connectedSeconds),
      String(c.pools),
      String(c.objects),
      String(c.fds),
      formatCount(c.requests),
      formatCount(c.events),
    ]);
  }
  lines.push(...table(rows));
  return `${lines.join('\n')}\n`;
}
