/*
 * test_chunker.c - FastCDC content-defined chunking.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bug.h"
#include "chunker.h"
#include "tap.h"

#define MIB (1024u * 1024)

/* The test's own data: splitmix64, so the data never changes. */
static uint64_t rng_next(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ z >> 30) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ z >> 27) * UINT64_C(0x94d049bb133111eb);
	return z ^ z >> 31;
}

static unsigned char *random_data(size_t n, uint64_t state)
{
	unsigned char *p = xmalloc(n ? n : 1);
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++) {
		if (i % 8 == 0)
			v = rng_next(&state);
		p[i] = (unsigned char)(v >> (8 * (i % 8)));
	}
	return p;
}

static void make_seed(unsigned char seed[32], unsigned char first)
{
	for (int i = 0; i < 32; i++)
		seed[i] = (unsigned char)(first + i);
}

/* Cut lists: chunk lengths in order. */
struct cuts {
	size_t n, alloc;
	size_t *len;
};

static void cuts_add(struct cuts *l, size_t len)
{
	if (l->n == l->alloc) {
		l->alloc = l->alloc ? 2 * l->alloc : 256;
		l->len = xrealloc(l->len, l->alloc * sizeof(*l->len));
	}
	l->len[l->n++] = len;
}

static void cuts_release(struct cuts *l)
{
	free(l->len);
	memset(l, 0, sizeof(*l));
}

static int cuts_equal(const struct cuts *a, const struct cuts *b)
{
	return a->n == b->n && !memcmp(a->len, b->len, a->n * sizeof(*a->len));
}

/* Chunk all of data[0..n) with the whole rest in hand and at_eof; a
 * cut of 0 (which would loop forever) ends the list. */
static void chunk_all(const struct chunker *c, const unsigned char *data, size_t n,
		      struct cuts *out)
{
	size_t off = 0, k;

	while (off < n) {
		k = chunker_cut(c, data + off, n - off, 1);
		if (!k)
			break;
		cuts_add(out, k);
		off += k;
	}
}

/*
 * A caller that reads in odd-sized pieces: first offers a random amount
 * (often less than CHUNKER_MAX, not at eof), and when told 0 offers at
 * least CHUNKER_MAX.  Returns -1 if the chunker broke its promise (0 for
 * a full window or at eof, or a cut past what it was given).
 */
static int chunk_streamed(const struct chunker *c, const unsigned char *data, size_t n,
			  uint64_t state, struct cuts *out)
{
	size_t off = 0, avail, k;

	while (off < n) {
		avail = 1 + rng_next(&state) % (CHUNKER_MAX + 4096);
		if (avail > n - off)
			avail = n - off;
		k = chunker_cut(c, data + off, avail, off + avail == n);
		if (!k) {
			if (avail >= CHUNKER_MAX || off + avail == n)
				return -1;
			avail = CHUNKER_MAX + rng_next(&state) % (3 * CHUNKER_MAX);
			if (avail > n - off)
				avail = n - off;
			k = chunker_cut(c, data + off, avail, off + avail == n);
		}
		if (!k || k > avail)
			return -1;
		cuts_add(out, k);
		off += k;
	}
	return 0;
}

/* Every chunk within bounds; only the last may be short; they add up. */
static int cuts_in_bounds(const struct cuts *l, size_t total)
{
	size_t sum = 0;

	for (size_t i = 0; i < l->n; i++) {
		if (l->len[i] == 0 || l->len[i] > CHUNKER_MAX)
			return 0;
		if (l->len[i] < CHUNKER_MIN && i + 1 != l->n)
			return 0;
		sum += l->len[i];
	}
	return sum == total;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_edges(const struct chunker *c)
{
	unsigned char *zero = xcalloc(2 * CHUNKER_MAX, 1);
	unsigned char *rnd = random_data(CHUNKER_MAX, 7);
	size_t first;

	is_int(chunker_cut(c, rnd, 0, 0), 0, "len 0 returns 0");
	is_int(chunker_cut(c, rnd, 0, 1), 0, "len 0 returns 0 at eof too");
	is_int(chunker_cut(c, rnd, 1, 1), 1, "one byte at eof is one chunk");
	is_int(chunker_cut(c, rnd, CHUNKER_MIN, 1), CHUNKER_MIN,
	       "CHUNKER_MIN bytes at eof are one chunk");
	is_int(chunker_cut(c, rnd, CHUNKER_MIN, 0), 0, "CHUNKER_MIN bytes, not eof: need more");
	is_int(chunker_cut(c, rnd, CHUNKER_MIN + 100, 0), 0,
	       "a short buffer without a cut point: need more");
	is_int(chunker_cut(c, rnd, CHUNKER_MIN + 100, 1), CHUNKER_MIN + 100,
	       "the same buffer at eof is one chunk");

	/* A real cut point: found as soon as it is in the buffer. */
	first = chunker_cut(c, rnd, CHUNKER_MAX, 0);
	ok(first > CHUNKER_MIN && first < CHUNKER_MAX, "random data has a cut point (%zu)",
	   first);
	is_int(chunker_cut(c, rnd, first - 1, 0), 0, "one byte short of the cut: need more");
	is_int(chunker_cut(c, rnd, first - 1, 1), first - 1, "one byte short, at eof: all of it");
	is_int(chunker_cut(c, rnd, first, 0), first, "the cut is found with no byte to spare");
	is_int(chunker_cut(c, rnd, first, 1), first, "the same cut at eof");

	is_int(chunker_cut(c, zero, CHUNKER_MAX - 1, 0), 0, "zeros short of max: need more");
	is_int(chunker_cut(c, zero, CHUNKER_MAX - 1, 1), CHUNKER_MAX - 1,
	       "zeros short of max at eof: all of it");
	is_int(chunker_cut(c, zero, CHUNKER_MAX, 0), CHUNKER_MAX, "max bytes force a cut");
	is_int(chunker_cut(c, zero, 2 * CHUNKER_MAX, 0), CHUNKER_MAX,
	       "a cut is never past CHUNKER_MAX");
	free(zero);
	free(rnd);
}

static void test_zeros(const struct chunker *c)
{
	size_t n = 4 * CHUNKER_MAX + 1000;
	unsigned char *zero = xcalloc(n, 1);
	struct cuts l = { 0 };
	int all_max = 1;

	chunk_all(c, zero, n, &l);
	is_int(l.n, 5, "all-zero data: 4 full chunks and the rest");
	for (size_t i = 0; i + 1 < l.n; i++)
		if (l.len[i] != CHUNKER_MAX)
			all_max = 0;
	ok(all_max, "all-zero data gives CHUNKER_MAX chunks");
	is_int(l.n ? l.len[l.n - 1] : 0, 1000, "the short rest comes last");
	cuts_release(&l);
	free(zero);
}

/*
 * Pins the gear table and the cuts of 2 MiB of the test's data under the
 * seed 00 01 .. 1f.  These numbers came from this implementation; if they
 * change, backups made before stop deduplicating against those after.
 */
static void test_golden(void)
{
	static const size_t want[] = {
		65631, 84220, 54070, 79603, 25193, 101065, 106047, 103437, 62377,
		75779, 83853, 70353, 72917, 68495, 84726, 73483, 109520, 81268,
		69174, 85626, 87341, 73087, 113141, 68758, 82359, 74347, 41282,
	};
	size_t nwant = sizeof(want) / sizeof(*want);
	unsigned char seed[32];
	unsigned char *data = random_data(2 * MIB, 42);
	struct chunker c;
	struct cuts l = { 0 };
	int same;

	make_seed(seed, 0);
	chunker_init(&c, seed);
	ok(c.gear[0] == UINT64_C(0xf85f20ef57a366dd) &&
	   c.gear[255] == UINT64_C(0xf91dfdc78b40d277),
	   "the gear table derived from a known seed is unchanged");
	chunk_all(&c, data, 2 * MIB, &l);
	same = l.n == nwant;
	for (size_t i = 0; same && i < nwant; i++)
		same = l.len[i] == want[i];
	ok(same, "the cuts of known data are those of every earlier furrow");
	cuts_release(&l);
	free(data);
}

int main(void)
{
	size_t big = 64 * MIB, mid = 16 * MIB, forced = 0, common = 0, ia, ib;
	size_t offa, offb;
	unsigned char seed[32], *data, *shifted;
	struct chunker c, c2;
	struct cuts a = { 0 }, b = { 0 };
	double t0, secs;
	int bad;

	make_seed(seed, 1);
	chunker_init(&c, seed);
	test_edges(&c);
	test_zeros(&c);
	test_golden();

	/* 64 MiB of random data: bounds, mean size, throughput. */
	data = random_data(big, 1);
	t0 = now();
	chunk_all(&c, data, big, &a);
	secs = now() - t0;
	ok(cuts_in_bounds(&a, big), "64 MiB random: %zu chunks, all within bounds", a.n);
	for (size_t i = 0; i < a.n; i++)
		if (a.len[i] == CHUNKER_MAX)
			forced++;
	ok(a.n && big / a.n > CHUNKER_AVG * 3 / 4 && big / a.n < CHUNKER_AVG * 5 / 4,
	   "mean chunk %.1f KiB is within 25%% of %u KiB", a.n ? big / 1024.0 / a.n : 0.0,
	   CHUNKER_AVG / 1024);
	ok(forced < 3, "random data almost never hits CHUNKER_MAX (%zu times)", forced);
	tap_diag("throughput %.0f MB/s over 64 MiB (this build's flags; sanitizers slow it)",
		 (double)big / secs / 1e6);

	/* Determinism: again, and streamed in odd pieces. */
	chunk_all(&c, data, big, &b);
	ok(cuts_equal(&a, &b), "the same data and seed give the same cuts");
	cuts_release(&b);
	bad = chunk_streamed(&c, data, big, 99, &b);
	ok(!bad && cuts_equal(&a, &b), "cuts do not depend on how the caller buffers");
	cuts_release(&b);
	cuts_release(&a);

	/* Different seeds: unrelated cuts (count shared cut offsets, all but
	 * the end of the data, which every list shares). */
	chunk_all(&c, data, mid, &a);
	seed[31] ^= 1;
	chunker_init(&c2, seed);
	seed[31] ^= 1;
	chunk_all(&c2, data, mid, &b);
	ok(cuts_in_bounds(&b, mid), "another seed: chunks within bounds");
	ok(!cuts_equal(&a, &b), "a seed one bit apart gives different cuts");
	for (ia = ib = 0, offa = offb = 0; ia + 1 < a.n && ib + 1 < b.n;) {
		if (offa + a.len[ia] == offb + b.len[ib])
			common++;
		if (offa + a.len[ia] <= offb + b.len[ib])
			offa += a.len[ia++];
		else
			offb += b.len[ib++];
	}
	ok(common * 20 < a.n, "%zu of %zu cut offsets shared across seeds", common, a.n);
	cuts_release(&b);

	/* Shift resistance: 10 bytes inserted near the start of 16 MiB. */
	shifted = xmalloc(mid + 10);
	memcpy(shifted, data, 1000);
	memset(shifted + 1000, 0xa5, 10);
	memcpy(shifted + 1010, data + 1000, mid - 1000);
	chunk_all(&c, shifted, mid + 10, &b);
	ok(cuts_in_bounds(&b, mid + 10), "shifted data: chunks within bounds");
	/* A new chunk [s, e) is reused if [s - 10, e - 10) is an old chunk. */
	bad = 0;
	for (ia = ib = 0, offa = 0, offb = 0; ib < b.n; offb += b.len[ib++]) {
		while (ia < a.n && offa + 10 < offb)
			offa += a.len[ia++];
		if (!(offb >= 1010 && ia < a.n && offa + 10 == offb && a.len[ia] == b.len[ib]))
			bad++;
	}
	ok(bad >= 1 && bad <= 2, "10 bytes inserted: %d of %zu chunks new, the rest reused", bad,
	   b.n);
	cuts_release(&a);
	cuts_release(&b);
	free(shifted);
	free(data);
	return tap_done();
}
