// The embedded headless compositor's public face: run it in this process
// (EmbeddedCompositor), talk to a running one (ControlClient), and read or write its
// PNGs. Starting it in a child process for a test is the harness's job
// (harness/embedded.ts, exported by harness/index.ts).

export { ControlClient, ControlServer, type PngResult } from './control.js';
export {
  CompositorStartError,
  ControlError,
  DisplayError,
  PngFormatError,
  ProtocolError,
  ReadbackError,
} from './errors.js';
export { defaultKnobs, type Knobs, type KnobsPatch, knobsSchema } from './knobs.js';
export { decodePng, encodePng, type RgbaImage } from './png.js';
export {
  type ClientInfo,
  type CompositorOptions,
  type CompositorState,
  EmbeddedCompositor,
  type SurfaceInfo,
} from './server.js';
export type { PoolInfo, PoolLinger } from './shm.js';
export type { PingResult } from './xdg-shell.js';
