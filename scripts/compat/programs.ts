// The real programs of the compatibility suite and how each is run: its command line,
// the environment it needs to pick Wayland and a software renderer, and what kind of
// run it is (a window that stays until stopped, a one-shot that exits by itself, or the
// two-client clipboard exchange). Deterministic output where the program allows it
// (fixed text, no blinking cursor), so screenshots of two runs can be compared.

export type ProgramKind = 'window' | 'oneshot' | 'clipboard';

export interface ProgramContext {
  /** A scratch directory for this cell, writable by the program's user. */
  readonly dir: string;
  /** A free X display number (Xwayland). */
  readonly xDisplay: number;
  /** A PNG file the image viewers open. */
  readonly image: string;
}

export interface ProgramSpec {
  readonly id: string;
  /** Commands that must be on PATH (or absolute paths that must exist). */
  readonly requires: readonly string[];
  readonly kind: ProgramKind;
  command(ctx: ProgramContext): string[];
  readonly env?: Readonly<Record<string, string>>;
  /** Time after the window maps before the screenshot (default 1500 ms). */
  readonly settleMs?: number;
  /** In the bounded CI subset. */
  readonly ci?: boolean;
  /** Said in the matrix about this program. */
  readonly note?: string;
  /** Why its pixels cannot be compared between two runs (it draws something new each run). */
  readonly noPixels?: string;
  /** Only on these compositors (default: on every one). */
  readonly noPixelsOn?: readonly string[];
}

/** A still program for the terminal emulators: one line of text, then nothing. */
const STILL_SHELL = ['sh', '-c', 'printf "grantway compat\\n"; exec sleep 100000'];

const weston = (name: string, extra: Partial<ProgramSpec> = {}): ProgramSpec => ({
  id: name,
  requires: [name],
  kind: 'window',
  command: () => [name],
  ...extra,
});

/**
 * Xwayland as a Wayland client (not rootless: it shows its root window as one
 * toplevel), with xterm and xeyes inside. The script stops its X clients and Xwayland
 * on SIGTERM.
 */
const XWAYLAND_SCRIPT = `
D=$1
Xwayland :$D -noreset -nolisten tcp -shm & X=$!
trap 'kill $A $B $X 2>/dev/null; exit 0' TERM INT
i=0; while [ ! -S /tmp/.X11-unix/X$D ] && [ $i -lt 150 ]; do sleep 0.1; i=$((i+1)); done
DISPLAY=:$D xterm -geometry 60x10+0+0 -e sh -c 'printf "grantway compat\\n"; exec sleep 100000' & A=$!
DISPLAY=:$D xeyes -geometry 120x120+0+200 & B=$!
wait $X
`;

export const programs: readonly ProgramSpec[] = [
  {
    id: 'wayland-info',
    requires: ['wayland-info'],
    kind: 'oneshot',
    command: () => ['wayland-info'],
    ci: true,
  },
  weston('weston-simple-shm', { ci: true }),
  weston('weston-terminal', {
    command: () => ['weston-terminal', '--shell=/bin/sh'],
    env: { PS1: '$ ' },
  }),
  weston('weston-resizor'),
  weston('weston-subsurfaces'),
  weston('weston-transformed'),
  weston('weston-scaler'),
  weston('weston-dnd', { noPixels: 'draws random shapes each run' }),
  weston('weston-eventdemo'),
  weston('weston-fullscreen'),
  weston('weston-editor'),
  {
    id: 'foot',
    requires: ['foot'],
    kind: 'window',
    command: () => ['foot', '--override=cursor.blink=no', ...STILL_SHELL],
    ci: true,
  },
  {
    id: 'gtk3-widget-factory',
    requires: ['gtk3-widget-factory'],
    kind: 'window',
    command: () => ['gtk3-widget-factory'],
    env: { GDK_BACKEND: 'wayland', NO_AT_BRIDGE: '1', GTK_THEME: 'Adwaita' },
    settleMs: 3000,
  },
  {
    id: 'gtk3-demo',
    requires: ['gtk3-demo'],
    kind: 'window',
    command: () => ['gtk3-demo'],
    env: { GDK_BACKEND: 'wayland', NO_AT_BRIDGE: '1', GTK_THEME: 'Adwaita' },
    settleMs: 3000,
    // Seen here, direct runs against each other: on weston 3 of 4 differed in the shadow
    // corners or the close button, on cage 2 of 3 in the header bar (focus state drawn
    // in whichever frame GTK damaged it). Through the bridge the compositor's pages held
    // exactly what GTK drew (compared byte for byte while it ran).
    noPixels: 'its first frames differ from run to run, direct too',
    noPixelsOn: ['weston', 'cage'],
  },
  {
    id: 'gtk4-widget-factory',
    requires: ['gtk4-widget-factory'],
    kind: 'window',
    command: () => ['gtk4-widget-factory'],
    env: { GDK_BACKEND: 'wayland', GSK_RENDERER: 'cairo', GTK_A11Y: 'none', NO_AT_BRIDGE: '1' },
    settleMs: 3000,
  },
  {
    id: 'qt6-designer',
    requires: ['/usr/lib/qt6/bin/designer'],
    kind: 'window',
    command: () => ['/usr/lib/qt6/bin/designer'],
    env: { QT_QPA_PLATFORM: 'wayland', QT_WAYLAND_DISABLE_WINDOWDECORATION: '0' },
    settleMs: 3000,
    note: 'Qt 6 Designer (Debian designer-qt6), a Qt Widgets program',
  },
  {
    id: 'xwayland-xterm-xeyes',
    requires: ['Xwayland', 'xterm', 'xeyes'],
    kind: 'window',
    command: (ctx) => ['sh', '-c', XWAYLAND_SCRIPT, 'xwayland', String(ctx.xDisplay)],
    settleMs: 3000,
    note: 'Xwayland :N (rootful) as a Wayland client, xterm and xeyes on it',
  },
  {
    id: 'mpv',
    requires: ['mpv'],
    kind: 'window',
    command: () => [
      'mpv',
      '--no-config',
      '--vo=wlshm',
      '--ao=null',
      '--loop=inf',
      '--really-quiet',
      'av://lavfi:testsrc2=size=320x240:rate=25',
    ],
    // A stalled first frame looks like a still; what it shows depends on timing.
    noPixels: 'a video, a new frame every 40 ms',
  },
  {
    id: 'imv',
    requires: ['imv-wayland'],
    kind: 'window',
    command: (ctx) => ['imv-wayland', ctx.image],
  },
  {
    id: 'wev',
    requires: ['wev'],
    kind: 'window',
    command: () => ['wev'],
  },
  {
    id: 'wl-copy/wl-paste',
    requires: ['wl-copy', 'wl-paste'],
    kind: 'clipboard',
    command: () => ['wl-paste', '--no-newline'],
    ci: true,
    note: 'wl-copy offers a text, wl-paste (another client) reads it through a pipe fd',
  },
];

/** The text the clipboard cell copies and must read back. */
export const CLIPBOARD_TEXT = 'grantway compat clipboard ✓';
