// One connected unix stream socket with its receive and transmit buffers in native
// memory, so recvmsg/sendmsg (bytes + SCM_RIGHTS fds) run without per-call marshalling:
// each msghdr is laid out once and the kernel reads and writes the same memory that JS
// sees through zero-copy views. The wire protocol is not known here: this moves bytes
// and fds, nothing more.

import { SyscallError } from './errors.js';
import { releaseFd } from './fd-release.js';
import {
  close,
  ERRNO,
  hungUp,
  MSG_CMSG_CLOEXEC,
  MSG_CTRUNC,
  MSG_DONTWAIT,
  MSG_NOSIGNAL,
  type NativePointer,
  nativeAlloc,
  nativeFree,
  nativeView,
  recvmsgRaw,
  SCM_RIGHTS,
  SOL_SOCKET,
  sendmsgRaw,
  shutdownWrite,
} from './libc.js';

/** libwayland-server accepts at most this many fds per sendmsg (its cmsg buffer). */
export const MAX_FDS_PER_SENDMSG = 28;

// struct msghdr (x86_64): name@0 namelen@8 iov@16 iovlen@24 control@32 controllen@40 flags@48
const MSGHDR_SIZE = 56;
const IOVEC_SIZE = 16;
// Room for far more fds than any peer may send in one go; truncation is detected.
const RX_CONTROL_SIZE = 16 + 4 * 253;
const TX_CONTROL_SIZE = 16 + 4 * MAX_FDS_PER_SENDMSG;

export type RecvResult =
  /** n > 0 bytes were written at the requested offset. */
  | number
  /** The peer closed its end (orderly EOF). */
  | 'eof'
  /** Nothing to read now. */
  | 'again';

export type SendResult = number | 'again';

/**
 * The kernel dropped fds sent with a message (MSG_CTRUNC). The control buffer holds
 * SCM_MAX_FD (253), the most one message can carry, so the cause is the receiver's fd
 * table: it installs them one by one and stops at RLIMIT_NOFILE.
 */
export class FdOverflowError extends Error {
  readonly code = 'ERR_FD_OVERFLOW';
  constructor() {
    super('file descriptors sent with a message were lost: the receiving fd table is full');
    this.name = 'FdOverflowError';
  }
}

export class UnixChannel {
  /** Zero-copy view of the receive buffer. */
  readonly rx: Uint8Array;
  /** Zero-copy view of the transmit buffer. */
  readonly tx: Uint8Array;
  private readonly memory: NativePointer;
  private readonly rxMsg: NativePointer;
  private readonly txMsg: NativePointer;
  // Buffer addresses as plain numbers (user-space pointers are < 2^47, exact in a
  // double), so the per-call iovec update needs no BigInt arithmetic.
  private readonly rxBase: number;
  private readonly txBase: number;
  private readonly rxHdr: DataView;
  private readonly txHdr: DataView;
  private readonly rxControl: DataView;
  private readonly txControl: DataView;
  private open = true;

  constructor(
    readonly fd: number,
    rxCapacity = 64 * 1024,
    txCapacity = 256 * 1024,
  ) {
    // One allocation: [rx msghdr+iov][rx control][tx msghdr+iov][tx control][rx][tx].
    const head = MSGHDR_SIZE + IOVEC_SIZE;
    const rxCtlOff = head;
    const txMsgOff = align8(rxCtlOff + RX_CONTROL_SIZE);
    const txCtlOff = txMsgOff + head;
    const rxOff = align8(txCtlOff + TX_CONTROL_SIZE);
    const txOff = rxOff + rxCapacity;
    const total = txOff + txCapacity;
    this.memory = nativeAlloc(total);
    const all = nativeView(this.memory, total);
    all.fill(0, 0, rxOff);
    const dv = (off: number, len: number): DataView => new DataView(all.buffer, off, len);
    this.rxMsg = this.memory;
    this.txMsg = this.memory + BigInt(txMsgOff);
    this.rxBase = Number(this.memory) + rxOff;
    this.txBase = Number(this.memory) + txOff;
    this.rxHdr = dv(0, head);
    this.txHdr = dv(txMsgOff, head);
    this.rxControl = dv(rxCtlOff, RX_CONTROL_SIZE);
    this.txControl = dv(txCtlOff, TX_CONTROL_SIZE);
    this.rx = all.subarray(rxOff, rxOff + rxCapacity);
    this.tx = all.subarray(txOff, txOff + txCapacity);
    // Fixed fields: one iovec right after each msghdr.
    this.rxHdr.setBigUint64(16, this.rxMsg + BigInt(MSGHDR_SIZE), true);
    this.rxHdr.setBigUint64(24, 1n, true);
    this.rxHdr.setBigUint64(32, this.memory + BigInt(rxCtlOff), true);
    this.txHdr.setBigUint64(16, this.txMsg + BigInt(MSGHDR_SIZE), true);
    this.txHdr.setBigUint64(24, 1n, true);
    this.txHdr.setBigUint64(32, this.memory + BigInt(txCtlOff), true);
  }

  get isOpen(): boolean {
    return this.open;
  }

  /**
   * Reads at most maxLength bytes into rx[offset…]; received fds are appended to
   * `fds` in arrival order. Throws FdOverflowError (after closing what did arrive) when
   * the kernel had to drop fds.
   */
  recv(offset: number, maxLength: number, fds: number[]): RecvResult {
    const hdr = this.rxHdr;
    setWord64(hdr, MSGHDR_SIZE, this.rxBase + offset);
    hdr.setUint32(MSGHDR_SIZE + 8, maxLength, true);
    hdr.setUint32(40, RX_CONTROL_SIZE, true);
    hdr.setInt32(48, 0, true);
    let n: number;
    do {
      n = recvmsgRaw(this.fd, this.rxMsg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    } while (n === -ERRNO.EINTR);
    if (n < 0) {
      if (n === -ERRNO.EAGAIN) return 'again';
      if (n === -ERRNO.ECONNRESET) return 'eof';
      throw new SyscallError('recvmsg', -n);
    }
    const controlLength = hdr.getUint32(40, true);
    const before = fds.length;
    if (controlLength > 0) this.collectFds(controlLength, fds);
    if ((hdr.getInt32(48, true) & MSG_CTRUNC) !== 0) {
      // The message's fds are incomplete and no message can claim them now.
      for (const fd of fds.splice(before)) releaseFd(fd); // a peer's fds: see fd-release.ts
      throw new FdOverflowError();
    }
    return n === 0 ? 'eof' : n;
  }

  private collectFds(controlLength: number, fds: number[]): void {
    const ctl = this.rxControl;
    let off = 0;
    while (off + 16 <= controlLength) {
      const len = Number(ctl.getBigUint64(off, true));
      if (len < 16) break;
      const level = ctl.getInt32(off + 8, true);
      const type = ctl.getInt32(off + 12, true);
      if (level === SOL_SOCKET && type === SCM_RIGHTS) {
        for (let p = off + 16; p + 4 <= off + len; p += 4) fds.push(ctl.getInt32(p, true));
      }
      off += align8(len);
    }
  }

  /**
   * Sends tx[offset, offset+length) with up to MAX_FDS_PER_SENDMSG fds attached to the
   * first byte. Returns the bytes the kernel took: on a short count the fds went with
   * the part that was sent; on 'again' nothing (neither bytes nor fds) was sent.
   */
  send(offset: number, length: number, fds: readonly number[] = NO_FDS): SendResult {
    return this.sendAt(this.txBase + offset, length, fds);
  }

  /**
   * Sends source.rx[offset, offset+length), no fds: bytes relayed unchanged go out from
   * where they were received, without a copy into tx. Same results as send().
   */
  sendFromRx(source: UnixChannel, offset: number, length: number): SendResult {
    return this.sendAt(source.rxBase + offset, length, NO_FDS);
  }

  private sendAt(address: number, length: number, fds: readonly number[]): SendResult {
    if (fds.length > MAX_FDS_PER_SENDMSG) {
      throw new RangeError(`at most ${MAX_FDS_PER_SENDMSG} fds per sendmsg, got ${fds.length}`);
    }
    const hdr = this.txHdr;
    setWord64(hdr, MSGHDR_SIZE, address);
    hdr.setUint32(MSGHDR_SIZE + 8, length, true);
    if (fds.length > 0) {
      const ctlLen = 16 + 4 * fds.length;
      const ctl = this.txControl;
      ctl.setUint32(0, ctlLen, true);
      ctl.setInt32(8, SOL_SOCKET, true);
      ctl.setInt32(12, SCM_RIGHTS, true);
      for (let i = 0; i < fds.length; i++) ctl.setInt32(16 + 4 * i, fds[i] as number, true);
      hdr.setUint32(40, align8(ctlLen), true);
    } else {
      hdr.setUint32(40, 0, true);
    }
    let n: number;
    do {
      n = sendmsgRaw(this.fd, this.txMsg, MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (n === -ERRNO.EINTR);
    if (n >= 0) return n;
    if (n === -ERRNO.EAGAIN) return 'again';
    throw new SyscallError('sendmsg', -n);
  }

  /** Ends this side's writing (the peer reads EOF); false when the peer is gone. */
  shutdownWrite(): boolean {
    return shutdownWrite(this.fd);
  }

  /** Whether the peer closed both ways (not just a half-close). */
  get peerHungUp(): boolean {
    return hungUp(this.fd);
  }

  /** Closes the socket and frees the buffers; the views must not be used afterwards. */
  close(): void {
    if (!this.open) return;
    this.open = false;
    close(this.fd);
    nativeFree(this.memory);
  }
}

const NO_FDS: readonly number[] = [];

/**
 * Stores a non-negative integer < 2^53 as a little-endian 64-bit word. The size_t
 * fields written with setUint32 alone (lengths < 4 GiB) rely on their high halves
 * staying zero: the constructor zeroes the headers and nothing else writes them.
 */
function setWord64(dv: DataView, offset: number, value: number): void {
  dv.setUint32(offset, value % 0x1_0000_0000, true);
  dv.setUint32(offset + 4, Math.floor(value / 0x1_0000_0000), true);
}

function align8(n: number): number {
  return (n + 7) & ~7;
}

/** True for errors that mean the peer is gone rather than a bug. */
export function isPeerGone(err: unknown): boolean {
  return (
    err instanceof SyscallError && (err.errno === ERRNO.EPIPE || err.errno === ERRNO.ECONNRESET)
  );
}
