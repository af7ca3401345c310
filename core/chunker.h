/*
 * chunker.h - content-defined chunking for deduplicating backups.
 *
 * FastCDC (Xia et al., USENIX ATC 2016): a gear hash rolled over the
 * data, a cut where selected hash bits are all zero, the first
 * CHUNKER_MIN bytes of every chunk skipped without hashing, and
 * "normalized chunking" level 2: a harder condition (more bits) before
 * the normal size and an easier one (fewer bits) after it, which pulls
 * chunk sizes towards the normal size.  Because a cut depends only on the
 * bytes just before it, an insertion or deletion moves at most the
 * chunk or two around it; every later chunk is found again and dedups.
 *
 * The gear table comes from a per-repository secret seed, so the chunk
 * boundaries, which are visible even when chunks are encrypted, do not
 * reveal which known content a host stores.
 *
 * Sizes:
 *   CHUNKER_MIN  no chunk is shorter, except the last one of a stream;
 *   CHUNKER_AVG  the normal size: where the condition eases (NC level 2:
 *                18 mask bits before it, 14 after).  On random data the
 *                mean chunk is about 73 KiB (the 16 KiB never cut in
 *                pushes it above 64 KiB);
 *   CHUNKER_MAX  a cut is forced here (long runs of zeros, say).
 *
 * Changing any size, the masks or the gear derivation moves every
 * boundary: existing backups then stop deduplicating against new ones.
 * tests/unit/test_chunker.c pins the current cuts.
 */
#ifndef FURROW_CHUNKER_H
#define FURROW_CHUNKER_H

#include <stddef.h>
#include <stdint.h>

#define CHUNKER_MIN (16u * 1024)
#define CHUNKER_AVG (64u * 1024)
#define CHUNKER_MAX (256u * 1024)

struct chunker {
	uint64_t gear[256];
};

/* Derive the gear table from a 32-byte secret seed.  Cannot fail; the
 * struct holds no resources (no release needed), and one chunker may be
 * shared read-only by several threads. */
void chunker_init(struct chunker *c, const unsigned char seed[32]);

/*
 * Length of the first chunk of buf[0..len).
 *
 * If len >= CHUNKER_MAX or at_eof, always returns a cut in
 * 1..min(len, CHUNKER_MAX): len itself if len <= CHUNKER_MIN and at_eof,
 * so a chunk shorter than CHUNKER_MIN comes only at eof.  If
 * len < CHUNKER_MAX and !at_eof and no cut point was found in buf,
 * returns 0: the caller must supply more data.  len 0 returns 0.
 *
 * A cut depends only on the seed and the bytes from buf[0] to the cut,
 * so a caller that passes at least CHUNKER_MAX bytes from the chunk start
 * (or everything left, with at_eof) gets the same cuts however it
 * buffers.
 */
size_t chunker_cut(const struct chunker *c, const unsigned char *buf, size_t len,
		   int at_eof);

#endif
