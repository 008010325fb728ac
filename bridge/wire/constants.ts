// Numbers fixed by the Wayland wire format and by libwayland's implementation limits.
// They live apart so that every module (and the relay) agrees on one definition.

/** Bytes of a message header: word0 = sender object id, word1 = (size << 16) | opcode. */
export const HEADER_SIZE = 8;

/**
 * Largest message libwayland accepts or sends (its connection buffer size). A header
 * announcing more is malformed; the encoder refuses to produce more.
 */
export const MAX_MESSAGE_SIZE = 4096;

/** Most fds libwayland passes in one sendmsg (its MAX_FDS_OUT); writers must batch. */
export const MAX_FDS_PER_MESSAGE_BATCH = 28;

/** Object ids the server allocates (new_id in events) start here; clients use ids below. */
export const SERVER_ID_BASE = 0xff000000;
