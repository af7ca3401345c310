/*
 * compress.c - see compress.h.
 *
 * One context of each kind per thread, cached, freed when the thread
 * ends: backups compress and decompress every chunk (tens of thousands
 * per GiB), and a fresh context per call cost a large allocation - with
 * musl, an mmap, page faults and an munmap - each time.  A cached
 * compression context keeps its largest workspace (about 1 MB at level 1
 * for a 256 KiB chunk) for the life of its thread.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>
#include <zstd_errors.h>

#include "bug.h"
#include "compress.h"
#include "error.h"
#include "banned.h"

struct zctx {
	ZSTD_CCtx *c;
	ZSTD_DCtx *d;
};

static pthread_key_t zkey;
static pthread_once_t zonce = PTHREAD_ONCE_INIT;

static void zctx_free(void *arg)
{
	struct zctx *z = arg;

	ZSTD_freeCCtx(z->c);
	ZSTD_freeDCtx(z->d);
	free(z);
}

static void zkey_make(void)
{
	if (pthread_key_create(&zkey, zctx_free))
		BUG("pthread_key_create");
}

static struct zctx *zctx_get(void)
{
	struct zctx *z;

	pthread_once(&zonce, zkey_make);
	if ((z = pthread_getspecific(zkey)))
		return z;
	if (!(z = calloc(1, sizeof(*z))) || pthread_setspecific(zkey, z))
		BUG("out of memory (zstd contexts)");
	return z;
}

const char *compress_zstd_version(void)
{
	return ZSTD_versionString();
}

int compress_zstd(struct strbuf *out, const void *in, size_t len, int level)
{
	ZSTD_CCtx *cctx;
	size_t bound, n;

	if (level < 1 || level > COMPRESS_ZSTD_LEVEL_MAX)
		return error_set(FURROW_EINVAL,
				 "zstd: compression level %d is not in 1..%d",
				 level, COMPRESS_ZSTD_LEVEL_MAX);
	bound = ZSTD_compressBound(len);
	if (ZSTD_isError(bound))
		return error_set(FURROW_ELIMIT,
				 "zstd: %zu bytes is over zstd's input limit", len);
	cctx = zctx_get()->c;
	if (!cctx && !(cctx = zctx_get()->c = ZSTD_createCCtx()))
		BUG("out of memory (zstd compression context)");
	ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
	/* Content size is written by default in one-shot mode; say so, so a
	 * library default never changes what decompress_zstd() needs. */
	if (ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1)))
		BUG("zstd refused a compression parameter");
	strbuf_grow(out, bound);
	n = ZSTD_compress2(cctx, out->buf + out->len, bound, len ? in : "", len);
	/* With a bound-sized buffer and valid parameters, only running out
	 * of memory can fail. */
	if (ZSTD_isError(n))
		BUG("zstd compression failed: %s", ZSTD_getErrorName(n));
	strbuf_setlen(out, out->len + n);
	return 0;
}

int decompress_zstd(struct strbuf *out, const void *in, size_t len,
		    size_t max_out)
{
	const unsigned char *p = in;
	unsigned long long size;
	ZSTD_DCtx *dctx;
	size_t n, framelen;
	uint32_t magic;

	/* ZSTD_getFrameContentSize() says 0 for a skippable frame, and
	 * ZSTD_decompressDCtx() would skip it: only a real frame will do. */
	if (len < 4)
		return error_set(FURROW_ESYNTAX,
				 "zstd: %zu bytes is too short for a frame", len);
	magic = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
		(uint32_t)p[3] << 24;
	if (magic != ZSTD_MAGICNUMBER)
		return error_set(FURROW_ESYNTAX, "zstd: not a zstd frame");
	size = ZSTD_getFrameContentSize(in, len);
	if (size == ZSTD_CONTENTSIZE_ERROR)
		return error_set(FURROW_ESYNTAX, "zstd: bad or truncated frame header");
	if (size == ZSTD_CONTENTSIZE_UNKNOWN)
		return error_set(FURROW_ESYNTAX,
				 "zstd: frame does not declare its content size");
	if (size > max_out)
		return error_set(FURROW_ELIMIT,
				 "zstd: frame declares %llu bytes, over the limit of %zu",
				 size, max_out);
	framelen = ZSTD_findFrameCompressedSize(in, len);
	if (ZSTD_isError(framelen))
		return error_set(FURROW_ESYNTAX, "zstd: %s (truncated frame?)",
				 ZSTD_getErrorName(framelen));
	if (framelen != len)
		return error_set(FURROW_ESYNTAX,
				 "zstd: trailing data after the frame (%zu bytes)",
				 len - framelen);

	dctx = zctx_get()->d;
	if (!dctx && !(dctx = zctx_get()->d = ZSTD_createDCtx()))
		BUG("out of memory (zstd decompression context)");
	ZSTD_DCtx_reset(dctx, ZSTD_reset_session_and_parameters);
	strbuf_grow(out, (size_t)size);
	/* One-shot: the output buffer is the window, so a frame's window
	 * size cannot make zstd allocate more; a frame whose blocks hold
	 * more (or less) than it declared is an error inside zstd. */
	n = ZSTD_decompressDCtx(dctx, out->buf + out->len, (size_t)size, in, len);
	if (ZSTD_isError(n)) {
		if (ZSTD_getErrorCode(n) == ZSTD_error_memory_allocation)
			BUG("out of memory (zstd decompression)");
		out->buf[out->len] = '\0'; /* keep the strbuf invariant */
		if (ZSTD_getErrorCode(n) == ZSTD_error_dstSize_tooSmall)
			return error_set(FURROW_ESYNTAX,
					 "zstd: frame holds more than the %llu bytes it declares",
					 size);
		return error_set(FURROW_ESYNTAX, "zstd: %s", ZSTD_getErrorName(n));
	}
	if (n != size) {
		out->buf[out->len] = '\0';
		return error_set(FURROW_ESYNTAX,
				 "zstd: frame declares %llu bytes but holds %zu",
				 size, n);
	}
	strbuf_setlen(out, out->len + n);
	return 0;
}
