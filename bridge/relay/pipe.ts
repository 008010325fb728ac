// One direction of a session (client → compositor or compositor → client): the bytes
// and fds received from the source that the relay has not yet handled, and the bytes
// and fds it has queued for the destination. Reading is bounded by the room left for
// the destination (the whole back-pressure mechanism); flushing obeys libwayland's
// rules: at most 28 fds per sendmsg, and a message's fds go with or before its first
// byte. The session sees the input through inputStart/inputEnd and says how far it got
// with consumed(); it never moves these positions itself.

import { releaseFd } from '../../ffi/fd-release.js';
import type { UnixChannel } from '../../ffi/unix-channel.js';
import { MAX_FDS_PER_SENDMSG } from '../../ffi/unix-channel.js';
import { MAX_MESSAGE_SIZE } from '../wire/constants.js';
import { FdQueue } from '../wire/fd-queue.js';

export type FlushResult = 'done' | 'blocked';

/**
 * What one receive() did: 'more' and 'drained' brought new input ('drained': less than
 * asked for, so the socket is probably empty now); 'again': nothing to read; 'eof': the
 * source closed its end; 'full': the destination cannot take more, so nothing was read
 * and the pipe is paused until a flush empties it.
 */
export type ReceiveResult = 'more' | 'drained' | 'again' | 'eof' | 'full';

export class Pipe {
  /** Unhandled input is src.rx[rxStart, rxEnd): at most one partial message, or messages waiting for fds. */
  private rxStart = 0;
  private rxEnd = 0;
  /** Fds received from src and not yet claimed by a message. Owned by the queue. */
  readonly inFds = new FdQueue();
  /** Output waiting for dst is dst.tx[txStart, txEnd). */
  private txStart = 0;
  private txEnd = 0;
  /**
   * Fds claimed by forwarded messages, not yet sent, oldest first; outFdPos[i] is the tx
   * offset of the message that carries outFds[i] (non-decreasing). Owned by the pipe
   * until sendmsg has passed them on, then closed (the peer holds its own copy).
   */
  private outFds: number[] = [];
  private outFdPos: number[] = [];
  /** Source reading is paused because dst cannot take more; a flush that empties the output resumes it. */
  private isPaused = false;
  /** Messages handled, bytes sent to dst, fds received from src (counters). */
  private messageCount = 0;
  private byteCount = 0;
  private fdCount = 0;
  private readonly scratchFds: number[] = [];

  constructor(
    readonly src: UnixChannel,
    readonly dst: UnixChannel,
  ) {}

  get paused(): boolean {
    return this.isPaused;
  }

  get messages(): number {
    return this.messageCount;
  }

  /** Bytes sent to dst so far. */
  get bytes(): number {
    return this.byteCount;
  }

  /** Fds received from src so far (a change means new fds are queued in inFds). */
  get fdsReceived(): number {
    return this.fdCount;
  }

  /** The buffer that holds the unhandled input, at [inputStart, inputEnd). */
  get rx(): Uint8Array {
    return this.src.rx;
  }

  get inputStart(): number {
    return this.rxStart;
  }

  get inputEnd(): number {
    return this.rxEnd;
  }

  /** The session handled the input up to `pos` (exclusive): `messages` whole messages. */
  consumed(pos: number, messages: number): void {
    this.rxStart = pos;
    this.messageCount += messages;
  }

  /**
   * Reads what src has, never more than dst can take once handled: handled input is
   * copied to dst.tx, so bounding reads by its room is the whole back-pressure
   * mechanism. Received fds join inFds (owned by the queue from then on, even if the
   * caller throws).
   */
  receive(): ReceiveResult {
    this.compactRx();
    const pending = this.rxEnd - this.rxStart;
    const room = this.txRoomCompacting(pending + MAX_MESSAGE_SIZE) - pending;
    const want = Math.min(this.src.rx.length - this.rxEnd, room);
    if (want <= 0) {
      this.isPaused = true;
      return 'full';
    }
    const fds: number[] = [];
    let got;
    try {
      got = this.src.recv(this.rxEnd, want, fds);
    } finally {
      if (fds.length > 0) {
        this.inFds.push(fds);
        this.fdCount += fds.length;
      }
    }
    if (got === 'again' || got === 'eof') return got;
    this.rxEnd += got;
    return got < want ? 'drained' : 'more';
  }

  /** Moves unhandled input to the front of rx so the next read has room. */
  private compactRx(): void {
    if (this.rxStart === 0) return;
    const rx = this.src.rx;
    if (this.rxEnd > this.rxStart) rx.copyWithin(0, this.rxStart, this.rxEnd);
    this.rxEnd -= this.rxStart;
    this.rxStart = 0;
  }

  /** Room left in dst.tx for new output, compacting first when that helps. */
  private txRoom(): number {
    if (this.txStart > 0 && this.txStart === this.txEnd) this.resetTx();
    return this.dst.tx.length - this.txEnd;
  }

  /** Like txRoom, but also reclaims space already sent when the tail is short. */
  private txRoomCompacting(need: number): number {
    let room = this.txRoom();
    if (room < need && this.txStart > 0) {
      this.compactTx();
      room = this.dst.tx.length - this.txEnd;
    }
    return room;
  }

  /** Appends src.rx[from, to) to the output. receive() made sure it fits. */
  forward(from: number, to: number): void {
    if (to <= from) return;
    this.dst.tx.set(this.src.rx.subarray(from, to), this.txEnd);
    this.txEnd += to - from;
  }

  /** Appends bytes made by the bridge itself (an error, a rewritten message). */
  write(bytes: Uint8Array): boolean {
    if (this.txRoom() < bytes.length) this.compactTx();
    if (this.dst.tx.length - this.txEnd < bytes.length) return false;
    this.dst.tx.set(bytes, this.txEnd);
    this.txEnd += bytes.length;
    return true;
  }

  /** Queues fds to go with the message that starts at the current end of the output. */
  attachFds(fds: readonly number[]): void {
    for (const fd of fds) {
      this.outFds.push(fd);
      this.outFdPos.push(this.txEnd);
    }
  }

  get pendingOutput(): boolean {
    return this.txEnd > this.txStart || this.outFds.length > 0;
  }

  /** Fds this pipe owns: received and unclaimed, or claimed and not yet sent. */
  get fdsHeld(): number {
    return this.inFds.length + this.outFds.length;
  }

  /**
   * Bytes this direction holds: unhandled input plus unsent output. At most
   * src.rx.length + dst.tx.length, which channelCapacities (limits.ts) sizes.
   */
  get bufferedBytes(): number {
    return this.rxEnd - this.rxStart + (this.txEnd - this.txStart);
  }

  /** Sends as much output as dst takes now; once all is sent, reading resumes. */
  flush(): FlushResult {
    while (this.txEnd > this.txStart) {
      let end = this.txEnd;
      let fdCount = this.outFds.length;
      if (fdCount > MAX_FDS_PER_SENDMSG) {
        // Stop before the message whose fds do not fit in this sendmsg.
        fdCount = MAX_FDS_PER_SENDMSG;
        end = Math.max(this.outFdPos[fdCount] as number, this.txStart + 1);
      }
      const fds = this.scratchFds;
      fds.length = 0;
      for (let i = 0; i < fdCount; i++) fds.push(this.outFds[i] as number);
      const length = end - this.txStart;
      const sent = this.dst.send(this.txStart, length, fds);
      if (sent === 'again') return 'blocked';
      if (fdCount > 0) {
        // The kernel attached the fds to the first byte sent; the peer owns copies now.
        for (const fd of fds) releaseFd(fd);
        this.outFds.splice(0, fdCount);
        this.outFdPos.splice(0, fdCount);
      }
      this.txStart += sent;
      this.byteCount += sent;
      if (sent < length) return 'blocked';
    }
    this.resetTx();
    // Input may be waiting in the socket: the level-triggered watch will report it.
    this.isPaused = false;
    return 'done';
  }

  private resetTx(): void {
    if (this.outFds.length > 0) {
      // Fds of messages whose bytes are all sent cannot remain: flush sends them first.
      return;
    }
    this.txStart = 0;
    this.txEnd = 0;
  }

  private compactTx(): void {
    if (this.txStart === 0) return;
    const shift = this.txStart;
    this.dst.tx.copyWithin(0, shift, this.txEnd);
    this.txEnd -= shift;
    this.txStart = 0;
    for (let i = 0; i < this.outFdPos.length; i++) {
      this.outFdPos[i] = Math.max(0, (this.outFdPos[i] as number) - shift);
    }
  }

  /**
   * Forgets every byte and fd not yet handled or sent (the destination will never take
   * them), closing the fds. Counters stay.
   */
  discard(): void {
    this.closeFds();
    this.rxStart = this.rxEnd = 0;
    this.txStart = this.txEnd = 0;
  }

  /** Frees every fd this pipe still owns (teardown). */
  closeFds(): void {
    for (const fd of this.inFds.drain()) releaseFd(fd);
    for (const fd of this.outFds) releaseFd(fd);
    this.outFds = [];
    this.outFdPos = [];
  }
}
