// One direction of a session (client → compositor or compositor → client): the bytes
// and fds received from the source that the relay has not yet handled, and the bytes
// and fds it has queued for the destination. Reading is bounded by the room left for
// the destination (the whole back-pressure mechanism); flushing obeys libwayland's
// rules: at most 28 fds per sendmsg, and a message's fds go with or before its first
// byte. The session sees the input through inputStart/inputEnd and says how far it got
// with consumed(); it never moves these positions itself.
//
// The fast path copies nothing: while no output is queued, what the relay forwards
// unchanged is remembered as one run of src.rx, and flush() sends it from there with
// one sendmsg. Only what the destination does not take at once (or anything that must
// go out with fds, after bytes the bridge wrote, or behind a hold) is copied into
// dst.tx. A hold keeps the output from a point on back until it is released (grant
// mode's copy of a committed buffer, done off the event loop): reading goes on, and
// what follows waits behind it in order.

import { releaseFd } from '../../ffi/fd-release.js';
import type { UnixChannel } from '../../ffi/unix-channel.js';
import { MAX_FDS_PER_SENDMSG } from '../../ffi/unix-channel.js';
import { MAX_MESSAGE_SIZE } from '../wire/constants.js';
import { FdQueue } from '../wire/fd-queue.js';

/** 'held': everything before the first hold went out; the rest waits for its release. */
export type FlushResult = 'done' | 'blocked' | 'held';

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
  /**
   * Handled input forwarded unchanged and not yet sent: src.rx[runStart, runEnd).
   * Invariant: non-empty only while nothing is queued in dst.tx, no fds wait and no
   * hold is set, and always before rxStart (flush or materialize ends it before rx moves).
   */
  private runStart = 0;
  private runEnd = 0;
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
  /**
   * Holds, oldest first: holdPos[i] is the tx offset from which output waits for hold
   * holdIds[i]; holdDone[i] once released (it stays until the holds before it are).
   */
  private holdPos: number[] = [];
  private holdIds: number[] = [];
  private holdDone: boolean[] = [];
  private nextHoldId = 1;
  /** Source reading is paused because dst cannot take more; a flush that empties the output resumes it. */
  private isPaused = false;
  /** Messages handled, bytes sent to dst, fds received from src (counters). */
  private messageCount = 0;
  private byteCount = 0;
  private fdCount = 0;
  private readonly scratchFds: number[] = [];
  private readonly receivedFds: number[] = [];

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
    this.materialize();
    this.compactRx();
    const pending = this.rxEnd - this.rxStart;
    const room = this.txRoomCompacting(pending + MAX_MESSAGE_SIZE) - pending;
    const want = Math.min(this.src.rx.length - this.rxEnd, room);
    if (want <= 0) {
      this.isPaused = true;
      return 'full';
    }
    const fds = this.receivedFds;
    let got;
    try {
      got = this.src.recv(this.rxEnd, want, fds);
    } finally {
      if (fds.length > 0) {
        this.inFds.push(fds);
        this.fdCount += fds.length;
        fds.length = 0;
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

  /** Queues src.rx[from, to), relayed unchanged. receive() made sure it fits. */
  forward(from: number, to: number): void {
    if (to <= from) return;
    if (this.runEnd === from && this.runEnd > this.runStart) {
      this.runEnd = to; // the run goes on
      return;
    }
    if (this.runEnd === this.runStart && this.canRunDirect()) {
      this.runStart = from;
      this.runEnd = to;
      return;
    }
    this.materialize();
    this.copyToTx(from, to);
  }

  /** Whether output may leave straight from rx: nothing is queued ahead of it. */
  private canRunDirect(): boolean {
    return this.txEnd === this.txStart && this.outFds.length === 0 && this.holdPos.length === 0;
  }

  private copyToTx(from: number, to: number): void {
    this.dst.tx.set(this.src.rx.subarray(from, to), this.txEnd);
    this.txEnd += to - from;
  }

  /** Moves the unsent run into tx, where everything after it will queue. */
  private materialize(): void {
    if (this.runEnd === this.runStart) return;
    const from = this.runStart;
    const to = this.runEnd;
    this.runStart = this.runEnd = 0;
    if (this.txStart === this.txEnd) this.txStart = this.txEnd = 0;
    this.copyToTx(from, to);
  }

  /** Appends bytes made by the bridge itself (an error, a rewritten message). */
  write(bytes: Uint8Array): boolean {
    this.materialize();
    if (this.txRoom() < bytes.length) this.compactTx();
    if (this.dst.tx.length - this.txEnd < bytes.length) return false;
    this.dst.tx.set(bytes, this.txEnd);
    this.txEnd += bytes.length;
    return true;
  }

  /** Queues fds to go with the message that starts at the current end of the output. */
  attachFds(fds: readonly number[]): void {
    if (fds.length === 0) return;
    this.materialize();
    for (const fd of fds) {
      this.outFds.push(fd);
      this.outFdPos.push(this.txEnd);
    }
  }

  /**
   * Holds back the output from here on (what is queued already still goes out) until
   * release(id) is called with the id returned. Holds release in the order they were
   * set: output waits for every hold before it.
   */
  hold(): number {
    this.materialize();
    const id = this.nextHoldId++;
    this.holdPos.push(this.txEnd);
    this.holdIds.push(id);
    this.holdDone.push(false);
    return id;
  }

  /** Ends a hold; true when output waiting for it may now go out (flush to send it). */
  release(id: number): boolean {
    const i = this.holdIds.indexOf(id);
    if (i < 0) return false;
    this.holdDone[i] = true;
    if (i !== 0) return false;
    // shift(), not splice(0, n): no array of removed entries made per release (grant
    // mode releases two holds per commit, and there is seldom more than one to drop).
    while (this.holdDone.length > 0 && this.holdDone[0] === true) {
      this.holdPos.shift();
      this.holdIds.shift();
      this.holdDone.shift();
    }
    return true;
  }

  /** Holds set and not yet released (or waiting behind one that is not). */
  get holds(): number {
    return this.holdPos.length;
  }

  /** Whether output is queued (sendable now or behind a hold). */
  get pendingOutput(): boolean {
    return this.runEnd > this.runStart || this.txEnd > this.txStart || this.outFds.length > 0;
  }

  /** Whether output can be sent now: waiting for dst to be writable makes sense. */
  get sendable(): boolean {
    if (this.runEnd > this.runStart) return true;
    const limit = this.holdPos.length > 0 ? (this.holdPos[0] as number) : this.txEnd;
    return limit > this.txStart || (this.outFds.length > 0 && (this.outFdPos[0] as number) < limit);
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
    return this.rxEnd - this.rxStart + (this.txEnd - this.txStart) + (this.runEnd - this.runStart);
  }

  /** Sends as much output as dst takes now; once all is sent, reading resumes. */
  flush(): FlushResult {
    if (this.runEnd > this.runStart) {
      const length = this.runEnd - this.runStart;
      const sent = this.dst.sendFromRx(this.src, this.runStart, length);
      const n = sent === 'again' ? 0 : sent;
      this.byteCount += n;
      this.runStart += n;
      if (n < length) {
        this.materialize(); // the rest waits in tx: rx moves on
        return 'blocked';
      }
      this.runStart = this.runEnd = 0;
    }
    for (;;) {
      const limit = this.holdPos.length > 0 ? (this.holdPos[0] as number) : this.txEnd;
      if (limit <= this.txStart) break;
      let end = limit;
      let fdCount = 0;
      while (fdCount < this.outFds.length && (this.outFdPos[fdCount] as number) < limit) fdCount++;
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
    if (this.holdPos.length > 0) return 'held';
    this.resetTx();
    // Input may be waiting in the socket: the level-triggered watch will report it.
    this.isPaused = false;
    return 'done';
  }

  private resetTx(): void {
    if (this.outFds.length > 0 || this.holdPos.length > 0) {
      // Fds of messages whose bytes are all sent cannot remain: flush sends them first.
      // A hold at the end of the output keeps its place.
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
    for (let i = 0; i < this.holdPos.length; i++) {
      this.holdPos[i] = Math.max(0, (this.holdPos[i] as number) - shift);
    }
  }

  /**
   * Forgets every byte and fd not yet handled or sent (the destination will never take
   * them), closing the fds, and every hold. Counters stay.
   */
  discard(): void {
    this.closeFds();
    this.rxStart = this.rxEnd = 0;
    this.runStart = this.runEnd = 0;
    this.txStart = this.txEnd = 0;
    this.holdPos = [];
    this.holdIds = [];
    this.holdDone = [];
  }

  /** Frees every fd this pipe still owns (teardown). */
  closeFds(): void {
    for (const fd of this.inFds.drain()) releaseFd(fd);
    for (const fd of this.outFds) releaseFd(fd);
    this.outFds = [];
    this.outFdPos = [];
  }
}
