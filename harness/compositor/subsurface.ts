// wl_subcompositor and wl_subsurface: a surface shown as part of another. Position and
// stacking changes take effect with the parent's commit; a synchronized subsurface
// (itself or through an ancestor) has its commits cached until the parent applies.

import type { Client, Request, Resource } from './connection.js';
import { type Surface, type SurfaceRole, surfaceOf } from './surface.js';

/** wl_subcompositor.error and wl_subsurface.error share the value. */
const BAD_SURFACE = 0;

class SubsurfaceRole implements SurfaceRole {
  readonly name = 'wl_subsurface';
  sync = true;
  parent: Surface | null;

  constructor(
    readonly surface: Surface,
    parent: Surface,
  ) {
    this.parent = parent;
  }

  readonly synchronized = (): boolean =>
    this.sync || (this.parent?.role?.synchronized?.() ?? false);

  /** Shown only while it has a parent (a destroyed parent leaves it inert). */
  readonly mapped = (): boolean => this.parent !== null && !this.parent.destroyed;
}

function isAncestor(candidate: Surface, of: Surface): boolean {
  for (let s: Surface | null = of; s !== null; s = s.parent) if (s === candidate) return true;
  return false;
}

function stackOf(parent: Surface): Surface[] {
  parent.pendingStack ??= [...parent.stack];
  return parent.pendingStack;
}

function getSubsurface(req: Request): void {
  const owner = req.resource;
  const surface = surfaceOf(req.object('surface'))!;
  const parent = surfaceOf(req.object('parent'))!;
  if (surface === parent) {
    throw owner.error(BAD_SURFACE, `${surface.resource.toString()} cannot be its own parent`);
  }
  if (isAncestor(surface, parent)) {
    throw owner.error(BAD_SURFACE, `${surface.resource.toString()} is an ancestor of its parent`);
  }
  const role = new SubsurfaceRole(surface, parent);
  surface.assignRole(role.name, role, () =>
    owner.error(BAD_SURFACE, `${surface.resource.toString()} already has a role`),
  );
  surface.parent = parent;
  // A new subsurface goes on top of its parent's stack at once (weston does the same).
  parent.stack = [...parent.stack, surface];
  if (parent.pendingStack !== null) parent.pendingStack.push(surface);
  const detach = (): void => {
    const p = role.parent;
    if (p === null) return;
    p.stack = p.stack.filter((s) => s !== surface);
    if (p.pendingStack !== null) p.pendingStack = p.pendingStack.filter((s) => s !== surface);
    role.parent = null;
    if (surface.parent === p) surface.parent = null;
  };
  parent.resource.onDestroy(detach);
  req.client.createResource(req.number('id'), 'wl_subsurface', 1, role, {
    requests: {
      set_position: (r) => {
        surface.pendingPosition = { x: r.number('x'), y: r.number('y') };
      },
      place_above: (r) => place(r, role, 'above'),
      place_below: (r) => place(r, role, 'below'),
      set_sync: () => {
        role.sync = true;
      },
      set_desync: () => {
        role.sync = false;
        if (!role.synchronized()) surface.flushCache();
      },
    },
    destroyed: () => {
      detach();
      surface.clearRole(role);
    },
  });
}

function place(req: Request, role: SubsurfaceRole, where: 'above' | 'below'): void {
  const sibling = surfaceOf(req.object('sibling'))!;
  const parent = role.parent;
  if (parent === null) return; // inert
  const stack = stackOf(parent);
  if (sibling === role.surface || !stack.includes(sibling)) {
    throw req.resource.error(
      BAD_SURFACE,
      `${sibling.resource.toString()} is neither a sibling nor the parent`,
    );
  }
  const without = stack.filter((s) => s !== role.surface);
  const at = without.indexOf(sibling) + (where === 'above' ? 1 : 0);
  without.splice(at, 0, role.surface);
  parent.pendingStack = without;
}

export function bindSubcompositor(client: Client, id: number, version: number): Resource {
  return client.createResource(id, 'wl_subcompositor', version, null, {
    requests: { get_subsurface: getSubsurface },
  });
}
