// Linux dev_t ⇄ (major, minor). fstat gives a file's device as glibc's 64-bit dev_t;
// /proc/PID/maps prints the same device as `major:minor` in hex. The oracle compares the
// two, so the conversion must be exactly glibc's (sys/sysmacros.h), not the kernel's
// internal 20-bit-minor encoding.

/** major(dev): bits 8–19 and 32–63. */
export function devMajor(dev: bigint): number {
  return Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & 0xfffff000n));
}

/** minor(dev): bits 0–7 and 20–31 (shifted down to 8–19) and up. */
export function devMinor(dev: bigint): number {
  return Number((dev & 0xffn) | ((dev >> 12n) & 0xffffff00n));
}

/** makedev(major, minor), the inverse of the two above for 32-bit major and minor. */
export function makeDev(major: number, minor: number): bigint {
  const ma = BigInt(major >>> 0);
  const mi = BigInt(minor >>> 0);
  return (
    ((ma & 0xfffn) << 8n) | ((ma & 0xfffff000n) << 32n) | (mi & 0xffn) | ((mi & 0xffffff00n) << 12n)
  );
}
