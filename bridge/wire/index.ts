// The public face of the wire codec: pure functions over bytes plus an fd source, and
// the stream helpers (FrameReader, FdQueue) the relay needs around them. Nothing here
// touches sockets; importers should use this module, not the files behind it.

export {
  HEADER_SIZE,
  MAX_FDS_PER_MESSAGE_BATCH,
  MAX_MESSAGE_SIZE,
  SERVER_ID_BASE,
} from './constants.js';
export { decodeArgs } from './decode.js';
export { encodeMessage, encodeMessageInto, measureMessage } from './encode.js';
export {
  BadStringError,
  EncodeError,
  MalformedHeaderError,
  MissingFdError,
  NullNotAllowedError,
  TrailingBytesError,
  TruncatedMessageError,
  WireError,
  type WireErrorContext,
} from './errors.js';
export { FdQueue } from './fd-queue.js';
export { formatMessage, type InterfaceLookup } from './format.js';
export { type Frame, FrameReader } from './frame-reader.js';
export { checkHeader, readObjectId, readOpcode, readSize, writeHeader } from './header.js';
export {
  type ArgValue,
  countFds,
  doubleToFixed,
  type FdSource,
  fixedToDouble,
  type UntypedNewId,
} from './values.js';
