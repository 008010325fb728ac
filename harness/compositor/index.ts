// The embedded headless compositor's public face: run it in this process
// (EmbeddedCompositor), in a child process for tests (startEmbeddedCompositor), talk to
// a running one (ControlClient), and read or write its PNGs.

export { ControlClient, ControlServer, type PngResult } from './control.js';
export {
  CompositorStartError,
  ControlError,
  DisplayError,
  PngFormatError,
  ProtocolError,
  ReadbackError,
} from './errors.js';
export {
  type EmbeddedCompositorInstance,
  type EmbeddedCompositorOptions,
  type ExitStatus,
  startEmbeddedCompositor,
} from './harness.js';
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
