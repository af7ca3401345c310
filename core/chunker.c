/*
 * chunker.c - FastCDC content-defined chunking; see chunker.h.
 */
#include <stddef.h>
#include <stdint.h>

#include "chunker.h"
#include "banned.h"

/*
 * The cut masks.  The gear hash shifts left one bit per byte, so bit k of
 * the fingerprint depends on the last k+1 bytes: bits spread from 16 to
 * 63 make each decision look at a 64-byte window, not just the last few
 * bytes, which FastCDC found to give a better size distribution than
 * low, contiguous bits.
 *
 * MASK_S (18 bits: 16 19 22 24 27 30 33 35 38 41 44 46 49 52 55 57 60 63)
 * is used from CHUNKER_MIN to CHUNKER_AVG; MASK_L (14 bits, MASK_S
 * without 22 35 46 57) from CHUNKER_AVG to CHUNKER_MAX.  64 KiB is 2^16,
 * so these are normalized chunking level 2: 16 + 2 and 16 - 2 bits.
 */
#define MASK_S UINT64_C(0x9292524a49490000)
#define MASK_L UINT64_C(0x9092124249090000)

_Static_assert(CHUNKER_MIN < CHUNKER_AVG && CHUNKER_AVG < CHUNKER_MAX,
	       "chunk sizes must be ordered");

static uint64_t load_le64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t rotl64(uint64_t x, int k)
{
	return x << k | x >> (64 - k);
}

/* The splitmix64 finalizer: a bijection on 64 bits that spreads every
 * input bit over the whole word. */
static uint64_t mix64(uint64_t z)
{
	z = (z ^ z >> 30) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ z >> 27) * UINT64_C(0x94d049bb133111eb);
	return z ^ z >> 31;
}

/*
 * The gear table is the output of xoshiro256** (Blackman and Vigna) whose
 * 256-bit state is the seed, each word first passed through mix64() with
 * a distinct offset.  The mixing is a bijection, so all 256 bits of the
 * seed reach the table, and similar seeds (all zero, one bit apart) still
 * give unrelated tables.  This is not cryptographic, nor does it need to
 * be: it only has to be well mixed and the same on every host forever.
 */
void chunker_init(struct chunker *c, const unsigned char seed[32])
{
	uint64_t s[4], t;

	for (int j = 0; j < 4; j++)
		s[j] = mix64(load_le64(seed + 8 * j) +
			     (uint64_t)(j + 1) * UINT64_C(0x9e3779b97f4a7c15));
	/* xoshiro never leaves the all-zero state; one seed in 2^256 maps
	 * there, give it a fixed non-zero word instead. */
	if (!(s[0] | s[1] | s[2] | s[3]))
		s[0] = UINT64_C(0x9e3779b97f4a7c15);
	for (int i = 0; i < 256; i++) {
		c->gear[i] = rotl64(s[1] * 5, 7) * 9;
		t = s[1] << 17;
		s[2] ^= s[0];
		s[3] ^= s[1];
		s[1] ^= s[2];
		s[0] ^= s[3];
		s[2] ^= t;
		s[3] = rotl64(s[3], 45);
	}
}

/*
 * FastCDC's loop with two differences from the paper's pseudocode, which
 * takes its buffer to be the rest of the file.  The byte that satisfies
 * the mask ends its chunk (length i + 1), so a cut depends only on bytes
 * inside the chunk and is found as soon as that byte is in the buffer.
 * And running out of a short buffer is "need more" (0) unless at_eof:
 * the buffer's end is the data's end only when the caller says so.  The
 * mask for a position depends on its offset alone, never on len, so a
 * cut found in a short buffer is the one a longer buffer would give.  The
 * fingerprint starts from zero at CHUNKER_MIN: skipped bytes are not read.
 */
size_t chunker_cut(const struct chunker *c, const unsigned char *buf, size_t len,
		   int at_eof)
{
	const uint64_t *gear = c->gear;
	uint64_t fp = 0;
	size_t i, end, normal;

	if (len <= CHUNKER_MIN)
		return at_eof ? len : 0;
	end = len < CHUNKER_MAX ? len : CHUNKER_MAX;
	normal = end < CHUNKER_AVG ? end : CHUNKER_AVG;
	for (i = CHUNKER_MIN; i < normal; i++) {
		fp = (fp << 1) + gear[buf[i]];
		if (!(fp & MASK_S))
			return i + 1;
	}
	for (; i < end; i++) {
		fp = (fp << 1) + gear[buf[i]];
		if (!(fp & MASK_L))
			return i + 1;
	}
	if (end == CHUNKER_MAX || at_eof)
		return end;
	return 0;
}
