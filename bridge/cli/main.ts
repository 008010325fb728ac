#!/usr/bin/env node
// grantway's command line: parses flags, validates them, and maps each failure kind to
// a one-line message and an exit code. The commands themselves live beside this file.

import { parseArgs } from 'node:util';
import { SyscallError } from '../../ffi/errors.js';
import { ProtocolDirError } from '../protocol/registry.js';
import { ProtocolXmlError } from '../protocol/xml.js';
import {
  ListenSocketError,
  SocketInUseError,
  SocketPathError,
  UpstreamUnavailableError,
} from '../relay/errors.js';
import { GntallocUnavailableError } from '../grants/errors.js';
import { RecordFileError } from '../shm/recorder.js';
import { TraceFileError } from '../shm/trace-file.js';
import { benchCommand } from './bench.js';
import { SocketActivationError } from '../service/socket-activation.js';
import { FLAG_SPEC, OptionError } from './options.js';
import { proxyCommand } from './proxy.js';
import { reportCommand } from './report.js';
import { runCommand } from './run.js';
import { statusCommand } from './status.js';
import { ConfigFileError } from './config-file.js';
import { BridgeControlError } from '../control/bridge-control.js';
import { MetricsListenError } from '../metrics/server.js';
import { InvalidProxyLimitsError } from '../relay/proxy-limits.js';
import { InvalidClientLimitsError } from '../relay/limits.js';

const USAGE = `usage:
  grantway demo [--frames N] [--png FILE] [--html FILE] [--json] [--policy NAME [--policy-opt K=V]...]
      The whole idea, nothing to install: the embedded compositor, a bridge in grant
      mode and scripted clients (one killed mid-frame); ends with a summary table (the
      reclaim policy's attempts and deferred queue too), a PNG of every client's window
      (default grantway-demo.png) and an HTML page with those windows and a timeline of
      grants and evidence (default: the PNG's name with .html).
  grantway proxy --listen NAME --upstream NAME [--metrics ADDR] [--config FILE] [--trace] [--protocol-dir DIR]...
      Serve Wayland clients on NAME, relaying each to the compositor at --upstream.
      Takes a listening socket passed the systemd way (LISTEN_FDS) instead of --listen,
      and tells a service manager it is ready where NOTIFY_SOCKET is set (contrib/).
  grantway status [--listen NAME | --control PATH] [--json] [--interval-ms N]
      What a running proxy is doing: its clients, pools, grants by evidence, and the
      extent that waits longest and why; refreshes until interrupted (--json: once).
  grantway run [--upstream NAME] [--listen NAME] [--trace] [--protocol-dir DIR]... -- CMD [ARGS...]
      Start a bridge on a fresh socket, run CMD with WAYLAND_DISPLAY pointing at it,
      and exit with CMD's status. --upstream defaults to $WAYLAND_DISPLAY, then wayland-0.
  grantway compositor --socket NAME [--width W --height H --refresh-hz N] [--release-delay-ms N]
                      [--hold-buffers N] [--keep-pools-mapped-ms N|until-disconnect]
                      [--png-dir DIR] [--control PATH] [--private-global IFACE]...
      Run the embedded headless compositor alone on NAME, with misbehaviour knobs.
      SIGUSR1 writes the output to --png-dir; SIGUSR2 or a control "crash" kills it.
      Takes a listening socket passed the systemd way (LISTEN_FDS/LISTEN_PID, e.g.
      systemd-socket-activate) instead of --socket.
  grantway report FILE [--json]
      Summarise a lifecycle trace written with --record: pools, buffers, bytes, the
      evidence each pool reached, time from destroy to E2 and E3.
  grantway bench policies [TRACE.jsonl...] [--json] [--html FILE] [--policy NAME [--policy-opt K=V]...]
      Replay every reclaim policy on every trace (the given files, or fixtures/traces and
      the synthetic ones) against every simulated compositor; a table, JSON, or an HTML
      report with plots.

Socket names without a '/' live in $XDG_RUNTIME_DIR, as in libwayland.
Common options:
  --trace               print every message of every connection on stderr (WAYLAND_DEBUG style)
  --protocol-dir DIR    load extra protocol XML from DIR and its subdirectories (repeatable)
  --log-level LEVEL     fatal|error|warn|info|debug|trace|silent (default info)
  --record FILE         write every buffer lifecycle event to FILE (JSON lines)
  --mode MODE           grant (default): the compositor maps grant pages, never client
                        memory; passthrough: client fds go through, lifetimes are tracked
  --backend NAME        grant pages from memfd (default, any Linux) or gntalloc (Xen;
                        needs --domid N)
  --policy NAME         when to reclaim grant extents: evidence (default, at E3),
                        linux-deferred, qubes, watermark, recycle (see policies/README.md)
  --policy-opt K=V      an option of the policy, e.g. level=E2 (repeatable)
  --whole-extents       grant pools whole, not just the pages their buffers cover (for
                        recycle: sparse extents are never cached for reuse)
  --config FILE         (proxy, run) settings from a TOML or JSON file: keys are the flags
                        without dashes (max-clients = 64); flags given override them
  --metrics ADDR        (proxy, run) serve Prometheus metrics on a unix socket PATH (with a
                        /) or on 127.0.0.1:PORT
  --control PATH        (proxy, run) the control socket for \`grantway status\` (default:
                        beside the listening socket, NAME.control)
Per-client limits (proxy, run; see SECURITY.md) — a client over one is disconnected alone,
told which limit it hit; SIZE is bytes or 64K, 256M, 1G:
  --max-pool-size SIZE      bytes one wl_shm pool's buffers may cover (default 256M)
  --max-shm-total SIZE      bytes all of a client's pools not yet unmapped may cover
                            (grant mode, sealed pools: twice that; default 1G)
  --max-shm-declared SIZE   declared sizes of those pools, address space (default 64G)
  --max-objects N           object ids in use at once (default 32768)
  --max-fds N               fds the bridge holds for a client (default 1024)
  --max-buffered SIZE       bytes buffered for a client, both directions (default 640K)
  --stall-timeout-ms N      disconnect a client that reads nothing for this long while
                            its output is full (default 30000; 0: never)
Limits across the proxy (proxy, run; defaults from this machine, see SECURITY.md) — a new
client over one is refused, a pool over the total gets no_memory, both told which limit:
  --max-clients N           clients served at once (default: fd limit / 16, at most
                            an eighth of memory in relay buffers)
  --max-clients-per-uid N   clients of one uid at once (default: half of --max-clients)
  --max-shm-total-all SIZE  shared memory held for all clients' pools and unreclaimed
                            grant extents (default: a quarter of MemTotal)
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  const { values, positionals } = parseArgs({
    args: rest,
    options: FLAG_SPEC,
    allowPositionals: command === 'run' || command === 'report' || command === 'bench',
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  switch (command) {
    case 'proxy':
      return proxyCommand(values);
    case 'run':
      return runCommand(values, positionals);
    case 'report':
      return reportCommand(values, positionals);
    // The embedded compositor and the demo are the test harness's (harness/): loaded only
    // for these commands, so the bridge's own commands never load the harness.
    case 'compositor':
      return (await import('./compositor.js')).compositorCommand(values);
    case 'demo':
      return (await import('./demo.js')).demoCommand(values);
    case 'bench':
      return benchCommand(values, positionals);
    case 'status':
      return statusCommand(values);
    default:
      throw new OptionError(
        `unknown command "${command}" (commands: demo, proxy, run, status, report, compositor, bench)`,
      );
  }
}

/** Errors users can act on are printed as one line; anything else is a bug. */
function report(err: unknown): number {
  const known =
    err instanceof OptionError ||
    err instanceof SocketInUseError ||
    err instanceof SocketPathError ||
    err instanceof ListenSocketError ||
    err instanceof RecordFileError ||
    err instanceof UpstreamUnavailableError ||
    err instanceof ProtocolXmlError ||
    err instanceof ProtocolDirError ||
    err instanceof TraceFileError ||
    err instanceof GntallocUnavailableError ||
    err instanceof SocketActivationError ||
    err instanceof ConfigFileError ||
    err instanceof BridgeControlError ||
    err instanceof MetricsListenError ||
    err instanceof InvalidProxyLimitsError ||
    err instanceof InvalidClientLimitsError ||
    err instanceof SyscallError ||
    (err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS'));
  if (known) {
    process.stderr.write(`grantway: ${(err as Error).message}\n`);
    return 2;
  }
  process.stderr.write(
    `grantway: internal error: ${err instanceof Error ? err.stack : String(err)}\n`,
  );
  return 70;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.exitCode = report(err);
  },
);
