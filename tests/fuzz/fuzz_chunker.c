/*
 * fuzz_chunker.c - libFuzzer target: FastCDC cuts on any data and seed.
 *
 * Input: 32 bytes of seed, one control byte, then the payload.  With the
 * control byte's top bit set the payload is tiled (each copy XORed with
 * its copy number when bit 6 is set) so that inputs within libFuzzer's
 * length limit still reach past CHUNKER_MAX.
 *
 * Checked, with abort() on a violation:
 *  - chunking everything at eof: every cut in 1..min(rest, CHUNKER_MAX),
 *    shorter than CHUNKER_MIN only as the last chunk, cuts add up;
 *  - at a chunk start, any prefix of k bytes: at eof the cut is
 *    min(cut, k); not at eof it is the same cut once it fits, 0 ("need
 *    more") before, and never 0 for k >= CHUNKER_MAX;
 *  - a caller buffering in odd-sized pieces gets the same cuts;
 *  - the same seed gives the same gear table.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chunker.h"

/* Bounds that keep a run at tens of inputs a second: under the sanitizers
 * and comparison tracing the hash loop is some 50 times slower. */
#define TOTAL_MAX (CHUNKER_MAX + 64 * 1024) /* bytes after tiling */
#define PROBED_CHUNKS 2 /* chunk starts probed with prefixes */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* A small generator for probe lengths, seeded from the input. */
static uint32_t next32(uint64_t *s)
{
	*s = *s * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
	return (uint32_t)(*s >> 33);
}

/* The prefix checks for one chunk start whose full-rest cut is ref. */
static void probe(const struct chunker *c, const unsigned char *p, size_t rest,
		  size_t ref, size_t k)
{
	size_t e, n;

	if (k == 0 || k > rest)
		return;
	e = chunker_cut(c, p, k, 1);
	if (e != min_size(ref, k))
		abort();
	n = chunker_cut(c, p, k, 0);
	if (k >= CHUNKER_MAX) {
		if (n != ref)
			abort();
	} else if (n == 0) {
		/* Need more: no cut point in k bytes. */
		if (ref <= k && !(k == rest && ref == rest))
			abort();
	} else if (n != ref || n > k || n <= CHUNKER_MIN) {
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct chunker c, c2;
	const unsigned char *payload;
	unsigned char *buf;
	size_t plen, total, off, k, ref, nchunks = 0, *cuts;
	unsigned ctl;
	uint64_t rs = 0;

	if (size < 33)
		return 0;
	chunker_init(&c, data);
	chunker_init(&c2, data);
	if (memcmp(&c, &c2, sizeof(c)))
		abort();
	ctl = data[32];
	payload = data + 33;
	plen = size - 33;
	if (plen == 0) {
		if (chunker_cut(&c, payload, 0, 0) || chunker_cut(&c, payload, 0, 1))
			abort();
		return 0;
	}
	total = plen;
	if (ctl & 0x80)
		total = min_size(plen * (1 + (ctl & 0x3f) * 4), TOTAL_MAX);
	buf = malloc(total);
	cuts = malloc((total / CHUNKER_MIN + 2) * sizeof(*cuts));
	if (!buf || !cuts)
		abort();
	for (size_t i = 0; i < total; i++)
		buf[i] = payload[i % plen] ^ ((ctl & 0x40) ? (unsigned char)(i / plen) : 0);
	for (size_t i = 0; i < min_size(size, 64); i++)
		rs = rs * 131 + data[i];

	/* Everything at eof, with the prefix checks at the first chunks. */
	for (off = 0; off < total; off += ref) {
		size_t rest = total - off;

		ref = chunker_cut(&c, buf + off, rest, 1);
		if (ref == 0 || ref > min_size(rest, CHUNKER_MAX))
			abort();
		if (ref < CHUNKER_MIN && ref != rest)
			abort();
		if (rest <= CHUNKER_MIN && ref != rest)
			abort();
		if (rest >= CHUNKER_MAX && chunker_cut(&c, buf + off, rest, 0) != ref)
			abort();
		if (nchunks < PROBED_CHUNKS) {
			/* Each probe hashes up to ref bytes twice: a few. */
			probe(&c, buf + off, rest, ref, ref - 1);
			probe(&c, buf + off, rest, ref, ref);
			probe(&c, buf + off, rest, ref, CHUNKER_MIN);
			probe(&c, buf + off, rest, ref, CHUNKER_MIN + 1);
			probe(&c, buf + off, rest, ref, rest);
			probe(&c, buf + off, rest, ref, 1 + next32(&rs) % (CHUNKER_MAX + 64));
		}
		cuts[nchunks++] = ref;
	}

	/* Streamed: offer a random amount; on 0, at least CHUNKER_MAX. */
	for (off = 0, k = 0; off < total; off += ref, k++) {
		size_t rest = total - off, avail;

		avail = min_size(rest, 1 + next32(&rs) % (CHUNKER_MAX + 4096));
		ref = chunker_cut(&c, buf + off, avail, avail == rest);
		if (ref == 0) {
			if (avail >= CHUNKER_MAX || avail == rest)
				abort();
			avail = min_size(rest, CHUNKER_MAX + next32(&rs) % 4096);
			ref = chunker_cut(&c, buf + off, avail, avail == rest);
		}
		if (k >= nchunks || ref != cuts[k])
			abort();
	}
	if (k != nchunks)
		abort();
	free(cuts);
	free(buf);
	return 0;
}
