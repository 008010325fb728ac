// One direction of a session (client → compositor or compositor → client): the bytes
// and fds received from the source that the relay has not yet handled, and the bytes
// and fds it has queued for the destination. Flushing obeys libwayland's rules: at
// most 28 fds per sendmsg, and a message's fds go with or before its first byte.

import { releaseFd } from '../../ffi/fd-release.js';
import type { UnixChannel } from '../../ffi/unix-channel.js';
import { MAX_FDS_PER_SENDMSG } from '../../ffi/unix-channel.js';
import { FdQueue } from '../wire/fd-queue.js';

export type FlushResult = 'done' | 'blocked';

export class Pipe {
  /** Unhandled input is src.rx[rxStart, rxEnd): at most one partial message, or messages waiting for fds. */
  rxStart = 0;
  rxEnd = 0;
  /** Fds received from src and not yet claimed by a message. Owned by the queue. */
  readonly inFds = new FdQueue();
  /** Output waiting for dst is dst.tx[txStart, txEnd). */
  txStart = 0;
  txEnd = 0;
  /**
   * Fds claimed by forwarded messages, not yet sent, oldest first; outFdPos[i] is the tx
   * offset of the message that carries outFds[i] (non-decreasing). Owned by the pipe
   * until sendmsg has passed them on, then closed (the peer holds its own copy).
   */
  private outFds: number[] = [];
  private outFdPos: number[] = [];
  /** Source reading is paused because dst cannot take more. */
  paused = false;
  messages = 0;
  bytes = 0;
  private readonly scratchFds: number[] = [];

  constructor(
    readonly src: UnixChannel,
    readonly dst: UnixChannel,
  ) {}

  /** Room left in dst.tx for new output, compacting first when that helps. */
  txRoom(): number {
    if (this.txStart > 0 && this.txStart === this.txEnd) this.resetTx();
    return this.dst.tx.length - this.txEnd;
  }

  /** Moves unhandled input to the front of rx so the next read has room. */
  compactRx(): void {
    if (this.rxStart === 0) return;
    const rx = this.src.rx;
    if (this.rxEnd > this.rxStart) rx.copyWithin(0, this.rxStart, this.rxEnd);
    this.rxEnd -= this.rxStart;
    this.rxStart = 0;
  }

  /** Appends src.rx[from, to) to the output. Callers ensure it fits (txRoom). */
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

  /** Sends as much output as dst takes now. */
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
      this.bytes += sent;
      if (sent < length) return 'blocked';
    }
    this.resetTx();
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

  /** Frees every fd this pipe still owns (teardown). */
  closeFds(): void {
    for (const fd of this.inFds.drain()) releaseFd(fd);
    for (const fd of this.outFds) releaseFd(fd);
    this.outFds = [];
    this.outFdPos = [];
  }

  /** Like txRoom, but also reclaims space already sent when the tail is short. */
  txRoomCompacting(need: number): number {
    let room = this.txRoom();
    if (room < need && this.txStart > 0) {
      this.compactTx();
      room = this.dst.tx.length - this.txEnd;
    }
    return room;
  }
}
