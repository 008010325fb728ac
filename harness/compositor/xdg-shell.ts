// xdg_wm_base, xdg_positioner, xdg_surface, xdg_toplevel and xdg_popup: the window
// protocol real clients need before they draw. The configure sequence follows the
// protocol text: an initial commit without a buffer gets a configure; a buffer may be
// committed only after an ack_configure; committing no buffer unmaps and starts over.
// Windows are placed at the output's origin (window geometry at 0,0); popups relative to
// their parent by the positioner's anchor, gravity and offset (no constraint solving).

import { xdgShell } from '../../bridge/protocol/enums.js';
import type { Client, Request, Resource } from './connection.js';
import {
  type Rect,
  type Surface,
  type SurfaceRole,
  type SurfaceState,
  surfaceOf,
} from './surface.js';

const WmError = xdgShell.xdg_wm_base.error;
const XdgSurfaceError = xdgShell.xdg_surface.error;
const ToplevelError = xdgShell.xdg_toplevel.error;
const PositionerError = xdgShell.xdg_positioner.error;
const ToplevelState = xdgShell.xdg_toplevel.state;
const WmCapability = xdgShell.xdg_toplevel.wm_capabilities;
const VALID_RESIZE_EDGES = new Set([0, 1, 2, 4, 5, 6, 8, 9, 10]);

/** What the shell needs from the compositor. */
export interface ShellHost {
  nextSerial(): number;
  output(): { width: number; height: number };
  /** A shown window is about to be unmapped (its content is still readable). */
  windowUnmapping(surface: Surface): void;
}

/** A pong (or its absence) for one xdg_wm_base. */
export interface PingResult {
  readonly client: number;
  readonly serial: number;
  /** Round-trip in ms, or null when no pong came in time. */
  readonly ms: number | null;
}

class Positioner {
  width = 0;
  height = 0;
  anchorRect: Rect | null = null;
  anchor = 0;
  gravity = 0;
  offsetX = 0;
  offsetY = 0;

  copy(): Positioner {
    return Object.assign(new Positioner(), this);
  }

  /** The popup's rectangle relative to the parent's window geometry. */
  place(): Rect {
    const a = this.anchorRect!;
    const px = [a.x + a.width / 2, a.x + a.width / 2, a.x + a.width / 2, a.x, a.x + a.width];
    const py = [a.y + a.height / 2, a.y, a.y + a.height, a.y + a.height / 2, a.y + a.height / 2];
    // anchor/gravity values: none top bottom left right top_left bottom_left top_right bottom_right
    const ax = [px[0], px[1], px[2], px[3], px[4], a.x, a.x, a.x + a.width, a.x + a.width];
    const ay = [py[0], py[1], py[2], py[3], py[4], a.y, a.y + a.height, a.y, a.y + a.height];
    let x = ax[this.anchor] ?? px[0]!;
    let y = ay[this.anchor] ?? py[0]!;
    const w = this.width;
    const h = this.height;
    const gx = [-w / 2, -w / 2, -w / 2, -w, 0, -w, -w, 0, 0];
    const gy = [-h / 2, -h, 0, -h / 2, -h / 2, -h, 0, -h, 0];
    x += (gx[this.gravity] ?? 0) + this.offsetX;
    y += (gy[this.gravity] ?? 0) + this.offsetY;
    return { x: Math.trunc(x), y: Math.trunc(y), width: w, height: h };
  }
}

class WmBase {
  readonly surfaces = new Set<XdgSurface>();
  /** Pings sent and not yet answered: serial → time sent (ms). */
  readonly pings = new Map<number, number>();
  readonly pongs = new Map<number, number>();
  constructor(readonly resource: Resource) {}
}

type Phase = 'initial' | 'configuring' | 'mapped';

/** The xdg_surface role of a wl_surface, plus its toplevel or popup. */
class XdgSurface implements SurfaceRole {
  kind: 'toplevel' | 'popup' | null = null;
  /** The live role object (xdg_toplevel / xdg_popup). */
  roleObject: Resource | null = null;
  phase: Phase = 'initial';
  /** Configure serials sent and not yet acked, oldest first. */
  readonly unacked: number[] = [];
  acked = false;
  pendingGeometry: Rect | null = null;
  geometry: Rect | null = null;
  title: string | null = null;
  appId: string | null = null;
  states = new Set<number>();
  parent: XdgSurface | null = null;
  popupRect: Rect | null = null;
  resource!: Resource;
  #sentCapabilities = false;

  constructor(
    readonly wm: WmBase,
    readonly surface: Surface,
    readonly host: ShellHost,
  ) {}

  get name(): string {
    return this.kind === null ? 'xdg_surface' : `xdg_${this.kind}`;
  }

  readonly mapped = (): boolean => this.phase === 'mapped' && this.roleObject !== null;

  /** Where the surface's origin is on the output. */
  origin(): { x: number; y: number } {
    const g = this.geometry ?? { x: 0, y: 0 };
    if (this.kind === 'popup' && this.parent !== null && this.popupRect !== null) {
      const p = this.parent.origin();
      const pg = this.parent.geometry ?? { x: 0, y: 0 };
      return { x: p.x + pg.x + this.popupRect.x - g.x, y: p.y + pg.y + this.popupRect.y - g.y };
    }
    return { x: -g.x, y: -g.y };
  }

  describe(): Record<string, string | null> {
    return { title: this.title, appId: this.appId };
  }

  precommit(_surface: Surface, state: SurfaceState): void {
    if (this.kind === null) {
      throw this.resource.error(
        XdgSurfaceError.notConstructed,
        `${this.resource.toString()} has no role object (get_toplevel or get_popup) yet`,
      );
    }
    const attaching = state.attached && state.buffer !== null;
    if (attaching && !this.acked) {
      throw this.resource.error(
        XdgSurfaceError.unconfiguredBuffer,
        `${this.resource.toString()}: buffer committed before the first ack_configure`,
      );
    }
  }

  applied(surface: Surface): void {
    if (this.roleObject === null) return;
    if (this.pendingGeometry !== null) {
      this.geometry = this.pendingGeometry;
      this.pendingGeometry = null;
    }
    const hasBuffer = surface.committed !== null;
    if (this.phase === 'mapped' && !hasBuffer) {
      this.host.windowUnmapping(surface);
      // Unmapped: the protocol resets the surface to its freshly created state.
      this.phase = 'initial';
      this.acked = false;
      this.unacked.length = 0;
    }
    if (this.phase === 'initial' && !hasBuffer) {
      this.phase = 'configuring';
      this.sendConfigure();
    } else if (this.phase === 'configuring' && hasBuffer) {
      this.phase = 'mapped';
    }
  }

  sendConfigure(): void {
    const role = this.roleObject;
    if (role === null) return;
    if (this.kind === 'toplevel') {
      const out = this.host.output();
      if (role.version >= 4) role.send('configure_bounds', [out.width, out.height]);
      if (role.version >= 5 && !this.#sentCapabilities) {
        this.#sentCapabilities = true;
        role.send('wm_capabilities', [u32Array([WmCapability.maximize, WmCapability.fullscreen])]);
      }
      const big =
        this.states.has(ToplevelState.maximized) || this.states.has(ToplevelState.fullscreen);
      const states = u32Array([ToplevelState.activated, ...this.states]);
      role.send('configure', [big ? out.width : 0, big ? out.height : 0, states]);
    } else if (this.kind === 'popup' && this.popupRect !== null) {
      const r = this.popupRect;
      role.send('configure', [r.x, r.y, r.width, r.height]);
    }
    const serial = this.host.nextSerial();
    this.unacked.push(serial);
    this.resource.send('configure', [serial]);
  }

  /** A toplevel request changed what the window should be: configure again (once shown). */
  reconfigure(): void {
    if (this.phase !== 'initial') this.sendConfigure();
  }

  ackConfigure(serial: number): void {
    const i = this.unacked.indexOf(serial);
    if (i < 0) {
      throw this.resource.error(
        XdgSurfaceError.invalidSerial,
        `${this.resource.toString()}: ack_configure(${serial}) for no configure sent`,
      );
    }
    this.unacked.splice(0, i + 1);
    this.acked = true;
  }
}

function u32Array(values: readonly number[]): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const dv = new DataView(out.buffer);
  values.forEach((v, i) => dv.setUint32(i * 4, v, true));
  return out;
}

function xdgSurfaceOf(resource: Resource | null): XdgSurface | null {
  return resource !== null && resource.data instanceof XdgSurface ? resource.data : null;
}

function positionerOf(resource: Resource | null): Positioner | null {
  return resource !== null && resource.data instanceof Positioner ? resource.data : null;
}

function getXdgSurface(req: Request, wm: WmBase, host: ShellHost): void {
  const surface = surfaceOf(req.object('surface'))!;
  const xdg = new XdgSurface(wm, surface, host);
  surface.assignRole('xdg_surface', xdg, () =>
    wm.resource.error(WmError.role, `${surface.resource.toString()} already has a role`),
  );
  if (surface.hasBuffer) {
    surface.clearRole(xdg);
    throw wm.resource.error(
      WmError.invalidSurfaceState,
      `${surface.resource.toString()} already has a buffer`,
    );
  }
  wm.surfaces.add(xdg);
  xdg.resource = req.client.createResource(
    req.number('id'),
    'xdg_surface',
    wm.resource.version,
    xdg,
    {
      requests: {
        get_toplevel: (r) => getToplevel(r, xdg),
        get_popup: (r) => getPopup(r, xdg),
        set_window_geometry: (r) => {
          const rect = {
            x: r.number('x'),
            y: r.number('y'),
            width: r.number('width'),
            height: r.number('height'),
          };
          if (rect.width <= 0 || rect.height <= 0) {
            throw r.resource.error(
              XdgSurfaceError.invalidSize,
              `window geometry ${rect.width}x${rect.height}`,
            );
          }
          xdg.pendingGeometry = rect;
        },
        ack_configure: (r) => xdg.ackConfigure(r.number('serial')),
        destroy: (r) => {
          if (xdg.roleObject !== null) {
            throw r.resource.error(
              XdgSurfaceError.defunctRoleObject,
              `${r.resource.toString()} destroyed before its ${xdg.roleObject.toString()}`,
            );
          }
        },
      },
      destroyed: () => {
        wm.surfaces.delete(xdg);
        surface.clearRole(xdg);
      },
    },
  );
}

function constructRole(r: Request, xdg: XdgSurface, kind: 'toplevel' | 'popup'): void {
  if (xdg.kind !== null) {
    throw r.resource.error(
      XdgSurfaceError.alreadyConstructed,
      `${r.resource.toString()} already has a role object`,
    );
  }
  xdg.kind = kind;
}

function getToplevel(r: Request, xdg: XdgSurface): void {
  constructRole(r, xdg, 'toplevel');
  const reconfigure = (): void => xdg.reconfigure();
  const setState = (state: number, on: boolean): void => {
    if (on) xdg.states.add(state);
    else xdg.states.delete(state);
    reconfigure();
  };
  xdg.roleObject = r.client.createResource(
    r.number('id'),
    'xdg_toplevel',
    r.resource.version,
    xdg,
    {
      requests: {
        set_parent: (q) => {
          const parent = xdgSurfaceOf(q.object('parent'));
          if (parent === xdg) {
            throw q.resource.error(
              ToplevelError.invalidParent,
              'a toplevel cannot be its own parent',
            );
          }
          xdg.parent = parent;
        },
        set_title: (q) => (xdg.title = q.string('title')),
        set_app_id: (q) => (xdg.appId = q.string('app_id')),
        resize: (q) => {
          const edges = q.number('edges');
          if (!VALID_RESIZE_EDGES.has(edges)) {
            throw q.resource.error(ToplevelError.invalidResizeEdge, `invalid resize edge ${edges}`);
          }
        },
        set_max_size: (q) => checkSize(q),
        set_min_size: (q) => checkSize(q),
        set_maximized: () => setState(ToplevelState.maximized, true),
        unset_maximized: () => setState(ToplevelState.maximized, false),
        set_fullscreen: () => setState(ToplevelState.fullscreen, true),
        unset_fullscreen: () => setState(ToplevelState.fullscreen, false),
      },
      destroyed: () => roleObjectDestroyed(xdg),
    },
  );
}

function checkSize(q: Request): void {
  const w = q.number('width');
  const h = q.number('height');
  if (w < 0 || h < 0) throw q.resource.error(ToplevelError.invalidSize, `negative size ${w}x${h}`);
}

/** The role object went: the surface is unmapped and the xdg_surface is spent. */
function roleObjectDestroyed(xdg: XdgSurface): void {
  if (!xdg.surface.destroyed && xdg.surface.mapped) xdg.host.windowUnmapping(xdg.surface);
  xdg.roleObject = null;
  xdg.phase = 'initial';
  xdg.acked = false;
  xdg.unacked.length = 0;
}

function getPopup(r: Request, xdg: XdgSurface): void {
  const positioner = positionerOf(r.object('positioner'))!;
  const parentResource = r.object('parent');
  const parent = xdgSurfaceOf(parentResource);
  if (positioner.width <= 0 || positioner.anchorRect === null) {
    throw xdg.wm.resource.error(WmError.invalidPositioner, 'incomplete xdg_positioner');
  }
  if (parent === xdg) {
    throw xdg.wm.resource.error(WmError.invalidPopupParent, 'a popup cannot be its own parent');
  }
  constructRole(r, xdg, 'popup');
  xdg.parent = parent;
  xdg.popupRect = positioner.place();
  xdg.roleObject = r.client.createResource(r.number('id'), 'xdg_popup', r.resource.version, xdg, {
    requests: {
      // No input devices, so no serial can be valid: the grab is refused as weston does.
      grab: (q) => q.resource.send('popup_done', []),
      reposition: (q) => {
        const p = positionerOf(q.object('positioner'))!;
        if (p.width <= 0 || p.anchorRect === null) {
          throw xdg.wm.resource.error(WmError.invalidPositioner, 'incomplete xdg_positioner');
        }
        xdg.popupRect = p.place();
        q.resource.send('repositioned', [q.number('token')]);
        xdg.reconfigure();
      },
    },
    destroyed: () => roleObjectDestroyed(xdg),
  });
}

function createPositioner(r: Request): void {
  const p = new Positioner();
  const invalid = (q: Request, what: string): Error =>
    q.resource.error(PositionerError.invalidInput, what);
  r.client.createResource(r.number('id'), 'xdg_positioner', r.resource.version, p, {
    requests: {
      set_size: (q) => {
        const w = q.number('width');
        const h = q.number('height');
        if (w <= 0 || h <= 0) throw invalid(q, `size ${w}x${h} must be positive`);
        p.width = w;
        p.height = h;
      },
      set_anchor_rect: (q) => {
        const rect = {
          x: q.number('x'),
          y: q.number('y'),
          width: q.number('width'),
          height: q.number('height'),
        };
        if (rect.width < 0 || rect.height < 0) throw invalid(q, 'negative anchor rect');
        p.anchorRect = rect;
      },
      set_anchor: (q) => {
        const a = q.number('anchor');
        if (a > 8) throw invalid(q, `invalid anchor ${a}`);
        p.anchor = a;
      },
      set_gravity: (q) => {
        const g = q.number('gravity');
        if (g > 8) throw invalid(q, `invalid gravity ${g}`);
        p.gravity = g;
      },
      set_offset: (q) => {
        p.offsetX = q.number('x');
        p.offsetY = q.number('y');
      },
    },
  });
}

/** Every bound xdg_wm_base, for pings from the control channel. */
export class Shell {
  readonly #bases = new Set<WmBase>();

  constructor(private readonly host: ShellHost) {}

  bind(client: Client, id: number, version: number): void {
    let wm: WmBase | null = null;
    const resource = client.createResource(id, 'xdg_wm_base', version, null, {
      requests: {
        destroy: (r) => {
          if (wm !== null && wm.surfaces.size > 0) {
            throw r.resource.error(
              WmError.defunctSurfaces,
              `xdg_wm_base destroyed with ${wm.surfaces.size} xdg_surface(s) alive`,
            );
          }
        },
        create_positioner: createPositioner,
        get_xdg_surface: (r) => getXdgSurface(r, wm!, this.host),
        pong: (r) => {
          const serial = r.number('serial');
          const sent = wm?.pings.get(serial);
          if (sent !== undefined && wm !== null) {
            wm.pings.delete(serial);
            wm.pongs.set(serial, performance.now() - sent);
          }
        },
      },
      destroyed: () => {
        if (wm !== null) this.#bases.delete(wm);
      },
    });
    wm = new WmBase(resource);
    this.#bases.add(wm);
  }

  /** Pings every client's xdg_wm_base; resolves with each pong's round trip, or null. */
  async pingAll(timeoutMs: number): Promise<PingResult[]> {
    const sent = [...this.#bases].map((wm) => {
      const serial = this.host.nextSerial();
      wm.pings.set(serial, performance.now());
      wm.resource.send('ping', [serial]);
      return { wm, serial };
    });
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline && sent.some(({ wm, serial }) => wm.pings.has(serial))) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return sent.map(({ wm, serial }) => {
      const ms = wm.pongs.get(serial) ?? null;
      wm.pongs.delete(serial);
      wm.pings.delete(serial);
      return { client: wm.resource.client.serial, serial, ms };
    });
  }
}

/** For read-back: the window data of an xdg surface, if the role is one. */
export function windowInfo(role: SurfaceRole | null): {
  kind: string;
  title: string | null;
  appId: string | null;
  origin: { x: number; y: number };
} | null {
  if (!(role instanceof XdgSurface)) return null;
  return { kind: role.name, title: role.title, appId: role.appId, origin: role.origin() };
}
