/*
 * compress.h - zstd frames in and out of strbufs.
 *
 * core/compress.c is the only file that includes <zstd.h> (libzstd).  Both calls
 * are one-shot (the whole input and output in memory) and use a fresh
 * zstd context per call, so they are safe from any thread and keep no
 * memory between calls.
 *
 * The format is one standard zstd frame (RFC 8878) that declares its
 * content size and carries a content checksum: `zstd -d` reads it, and the
 * decoder can refuse an oversized frame before allocating anything for it.
 * Legacy (pre-v0.8) frames, skippable frames, dictionaries and
 * concatenated frames are not accepted.
 */
#ifndef FURROW_COMPRESS_H
#define FURROW_COMPRESS_H

#include <stddef.h>

#include "strbuf.h"

/* The level furrow uses.  libzstd is built for levels 1-3 (fast and
 * dfast matchers fully inlined, the others small and slower: see
 * image/build-deps.sh); compress_zstd() accepts 1..COMPRESS_ZSTD_LEVEL_MAX. */
#define COMPRESS_ZSTD_LEVEL_DEFAULT 3
#define COMPRESS_ZSTD_LEVEL_MAX     19 /* 20-22 need 64+ MiB windows */

/*
 * Append one zstd frame holding the len bytes at in (in may be NULL when
 * len is 0) to out, compressed at level (1..COMPRESS_ZSTD_LEVEL_MAX).  The frame declares its
 * content size and has a checksum.  Returns 0, or FURROW_EINVAL (bad
 * level) / FURROW_ELIMIT (input over zstd's maximum) with a message; out
 * is unchanged on failure.
 */
int compress_zstd(struct strbuf *out, const void *in, size_t len, int level);

/*
 * Decompress the len bytes at in, which must be exactly one zstd frame
 * that declares its content size, and append the content to out.
 * Returns 0, or with a message recorded and out unchanged:
 *   FURROW_ELIMIT   the declared size is over max_out (nothing allocated)
 *   FURROW_ESYNTAX  not a zstd frame, no declared size, truncated,
 *                   corrupt, checksum or size mismatch, or bytes after
 *                   the frame
 * out grows by at most the declared size (<= max_out), before decoding;
 * zstd's own decompression context adds 94 KiB while the call runs.
 */
int decompress_zstd(struct strbuf *out, const void *in, size_t len,
		    size_t max_out);

/* "1.5.4", from the linked libzstd at run time. */
const char *compress_zstd_version(void);

#endif
