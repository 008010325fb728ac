// What `wayland-info` prints about globals, read back as data for tests that compare a
// client's view of a compositor with and without the bridge.

export interface Global {
  readonly name: number;
  readonly interface: string;
  readonly version: number;
}

/** The globals wayland-info printed, as (name, interface, version), in printed order. */
export function parseGlobals(output: string): Global[] {
  const globals: Global[] = [];
  const line = /interface: '([^']+)',\s+version:\s+(\d+),\s+name:\s+(\d+)/g;
  for (const m of output.matchAll(line)) {
    globals.push({ interface: m[1]!, version: Number(m[2]), name: Number(m[3]) });
  }
  return globals;
}
