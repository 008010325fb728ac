// The enum values code names — error codes, formats, states — taken from the generated
// protocol tables (scripts/gen-protocols.ts renders every enum of every protocol as
// constants), so the relay, the shm tracker and the embedded compositor use the
// specification's numbers rather than copies of them (ARCHITECTURE.md §8).

export { enums as wayland } from './generated/wayland/wayland.js';
export { enums as xdgShell } from './generated/wayland-protocols/xdg-shell.js';
