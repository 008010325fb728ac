// wl_output: the one headless output, described the way real clients expect it
// (geometry, one current+preferred mode, scale, name/description, done), so that
// wayland-info and toolkits that size themselves from the output get sane answers.

import type { Client, Resource } from './connection.js';

export interface OutputConfig {
  readonly width: number;
  readonly height: number;
  /** Refresh rate in Hz (wl_output.mode carries mHz). */
  readonly refreshHz: number;
  readonly scale: number;
  readonly name: string;
}

const MODE_CURRENT = 1;
const MODE_PREFERRED = 2;
const SUBPIXEL_UNKNOWN = 0;
const TRANSFORM_NORMAL = 0;

/** Binds wl_output and sends its description; returns the object for wl_surface.enter. */
export function bindOutput(
  client: Client,
  id: number,
  version: number,
  config: OutputConfig,
  onDestroyed: (resource: Resource) => void,
): Resource {
  const output = client.createResource(id, 'wl_output', version, config, {
    requests: {},
    destroyed: (r) => onDestroyed(r),
  });
  // A 96 dpi panel's physical size, so clients computing dpi get a plausible number.
  const mm = (px: number): number => Math.round((px * 25.4) / 96);
  output.send('geometry', [
    0,
    0,
    mm(config.width),
    mm(config.height),
    SUBPIXEL_UNKNOWN,
    'grantway',
    'headless',
    TRANSFORM_NORMAL,
  ]);
  output.send('mode', [
    MODE_CURRENT | MODE_PREFERRED,
    config.width,
    config.height,
    Math.round(config.refreshHz * 1000),
  ]);
  if (version >= 2) output.send('scale', [config.scale]);
  if (version >= 4) {
    output.send('name', [config.name]);
    output.send('description', [`grantway embedded headless output ${config.name}`]);
  }
  if (version >= 2) output.send('done', []);
  return output;
}
