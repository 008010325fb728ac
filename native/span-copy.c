/*
 * grantway's one native helper: copies a table of damage spans (bridge/shm/copy.ts)
 * between two addresses in one call, a libc memcpy per row. Why it exists: from
 * JavaScript each row costs a koffi call (~80 ns of overhead), which doubled the cost
 * of a narrow damage rectangle (342 rows of 2.4 KiB in a 1080p frame: 62 µs a row at a
 * time, 31 µs here). Kernel copies (process_vm_readv, preadv) were measured too and are
 * slower than that row by row (see README "Grant-mode copies"). It is plain C against
 * libc alone, loaded with koffi (ffi/span-copy.ts); no Node headers, no node-gyp.
 *
 * Invariant: the caller guarantees every address the table names is mapped for the
 * whole call (the joint mapping of a sealed pool and its extent: see grant-mode.ts).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * table: count spans of 4 uint32 each — start, length, rows, stride (wl_shm pool sizes
 * are int32, so every offset fits). Row r of a span is the bytes
 * [start + r * stride, + length) of the source, copied to the same offset of dst.
 * Returns the bytes copied.
 */
uint64_t grantway_copy_spans(uintptr_t dst, uintptr_t src, const uint32_t *table, uint32_t count)
{
	uint64_t copied = 0;
	for (uint32_t i = 0; i < count; i++) {
		const uint32_t *s = table + 4 * (size_t)i;
		uint64_t at = s[0];
		const size_t length = s[1];
		for (uint32_t row = 0; row < s[2]; row++, at += s[3]) {
			memcpy((void *)(dst + at), (const void *)(src + at), length);
			copied += length;
		}
	}
	return copied;
}
