/*
 * sha256.c - see sha256.h.
 *
 * Everything but the compression function is shared: the buffering in
 * sha256_update(), the padding in sha256_final() and HMAC.  The
 * compression function takes the eight state words and a run of whole
 * 64-byte blocks; sha256_update() hands it every whole block straight
 * from the caller's memory, so a 64 KiB chunk is one call and no copy.
 */
#include <stdint.h>
#include <string.h>

#include "error.h"
#include "sha256.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_SHANI_BUILD 1
#else
#define HAVE_SHANI_BUILD 0
#endif

#include "banned.h"

/* FIPS 180-4 section 4.2.2: the first 32 bits of the fractional parts of
 * the cube roots of the first 64 primes.  Aligned for 16-byte loads. */
static const uint32_t K[64] __attribute__((aligned(16))) = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5,
	0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
	0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc,
	0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
	0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
	0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3,
	0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5,
	0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

/* Section 5.3.3: the initial hash value. */
static const uint32_t H0[8] = {
	0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
	0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

static uint32_t load_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void store_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* --- portable compression: FIPS 180-4 section 6.2.2 ------------------------ */

/* n is always a constant in 1..31 here, so neither shift is by 32. */
#define ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))
#define CH(x, y, z)  (((x) & (y)) ^ (~(x) & (z)))
#define MAJ(x, y, z) (((x) & (y)) ^ ((x) & (z)) ^ ((y) & (z)))
#define BSIG0(x) (ROTR(x, 2) ^ ROTR(x, 13) ^ ROTR(x, 22))
#define BSIG1(x) (ROTR(x, 6) ^ ROTR(x, 11) ^ ROTR(x, 25))
#define SSIG0(x) (ROTR(x, 7) ^ ROTR(x, 18) ^ ((x) >> 3))
#define SSIG1(x) (ROTR(x, 17) ^ ROTR(x, 19) ^ ((x) >> 10))

static void compress_portable(uint32_t h[8], const unsigned char *p,
			      size_t nblocks)
{
	uint32_t w[64];

	for (; nblocks > 0; nblocks--, p += SHA256_BLOCK_BYTES) {
		uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
		uint32_t e = h[4], f = h[5], g = h[6], hh = h[7];

		for (int t = 0; t < 16; t++)
			w[t] = load_be32(p + 4 * t);
		for (int t = 16; t < 64; t++)
			w[t] = SSIG1(w[t - 2]) + w[t - 7] + SSIG0(w[t - 15]) +
			       w[t - 16];
		for (int t = 0; t < 64; t++) {
			uint32_t t1 = hh + BSIG1(e) + CH(e, f, g) + K[t] + w[t];
			uint32_t t2 = BSIG0(a) + MAJ(a, b, c);

			hh = g;
			g = f;
			f = e;
			e = d + t1;
			d = c;
			c = b;
			b = a;
			a = t1 + t2;
		}
		h[0] += a;
		h[1] += b;
		h[2] += c;
		h[3] += d;
		h[4] += e;
		h[5] += f;
		h[6] += g;
		h[7] += hh;
	}
}

/* --- SHA-NI compression ------------------------------------------------------ */

#if HAVE_SHANI_BUILD
/*
 * The SHA extensions keep the eight working variables in two registers,
 * lanes high to low: ABEF = (a, b, e, f) and CDGH = (c, d, g, h).
 * sha256rnds2(cdgh, abef, wk) does two rounds with the W+K values in the
 * two low lanes of wk and returns the new ABEF; the old ABEF is then the
 * new CDGH, so the two registers swap roles every call.
 *
 * The schedule W[t] = s1(W[t-2]) + W[t-7] + s0(W[t-15]) + W[t-16] comes
 * four words at a time: sha256msg1(W[t-16..t-13], W[t-12..t-9]) adds
 * s0 of the following word to each of the first four; adding
 * W[t-7..t-4] (an alignr of the two newest vectors) gives everything
 * but s1, which sha256msg2(sum, W[t-4..t-1]) adds, feeding its own two
 * first results into its last two lanes.
 *
 * Only this function is compiled for the SHA and SSE4.1 extensions, so
 * the rest of the build needs no -m flags; it runs only after cpuid said
 * the CPU has them.
 */
#define SHANI_QUAD(abef, cdgh, wk)                                          \
	do {                                                                \
		(cdgh) = _mm_sha256rnds2_epu32((cdgh), (abef), (wk));       \
		(abef) = _mm_sha256rnds2_epu32((abef), (cdgh),              \
					       _mm_shuffle_epi32((wk), 0x0e)); \
	} while (0)

__attribute__((target("sha,sse4.1")))
static void compress_shani(uint32_t h[8], const unsigned char *p,
			   size_t nblocks)
{
	/* pshufb mask turning each big-endian 32-bit word into a lane. */
	const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL,
					     0x0405060700010203LL);
	__m128i abcd, efgh, abef, cdgh, t;

	/* (a, b, c, d) and (e, f, g, h), lanes low to high, into the
	 * ABEF/CDGH layout. */
	abcd = _mm_loadu_si128((const __m128i *)(const void *)&h[0]);
	efgh = _mm_loadu_si128((const __m128i *)(const void *)&h[4]);
	t = _mm_shuffle_epi32(abcd, 0xb1);    /* lanes b a d c */
	efgh = _mm_shuffle_epi32(efgh, 0x1b); /* lanes h g f e */
	abef = _mm_alignr_epi8(t, efgh, 8);   /* lanes f e b a */
	cdgh = _mm_blend_epi16(efgh, t, 0xf0); /* lanes h g d c */

	for (; nblocks > 0; nblocks--, p += SHA256_BLOCK_BYTES) {
		const __m128i abef_in = abef, cdgh_in = cdgh;
		__m128i m0, m1, m2, m3, wk;

		m0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 0)), bswap);
		m1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 16)), bswap);
		m2 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 32)), bswap);
		m3 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 48)), bswap);

		wk = _mm_add_epi32(m0, _mm_load_si128((const __m128i *)(const void *)&K[0]));
		SHANI_QUAD(abef, cdgh, wk);
		wk = _mm_add_epi32(m1, _mm_load_si128((const __m128i *)(const void *)&K[4]));
		SHANI_QUAD(abef, cdgh, wk);
		wk = _mm_add_epi32(m2, _mm_load_si128((const __m128i *)(const void *)&K[8]));
		SHANI_QUAD(abef, cdgh, wk);
		wk = _mm_add_epi32(m3, _mm_load_si128((const __m128i *)(const void *)&K[12]));
		SHANI_QUAD(abef, cdgh, wk);

		/* Rounds 16..63: the next four schedule words, then their
		 * four rounds; m0..m3 always hold the newest sixteen. */
		for (int r = 16; r < 64; r += 4) {
			__m128i next;

			next = _mm_sha256msg1_epu32(m0, m1);
			next = _mm_add_epi32(next, _mm_alignr_epi8(m3, m2, 4));
			next = _mm_sha256msg2_epu32(next, m3);
			m0 = m1;
			m1 = m2;
			m2 = m3;
			m3 = next;
			wk = _mm_add_epi32(next, _mm_load_si128((const __m128i *)(const void *)&K[r]));
			SHANI_QUAD(abef, cdgh, wk);
		}

		abef = _mm_add_epi32(abef, abef_in);
		cdgh = _mm_add_epi32(cdgh, cdgh_in);
	}

	/* Back to (a, b, c, d) and (e, f, g, h). */
	t = _mm_shuffle_epi32(abef, 0x1b);    /* lanes a b e f */
	cdgh = _mm_shuffle_epi32(cdgh, 0xb1); /* lanes g h c d */
	abcd = _mm_blend_epi16(t, cdgh, 0xf0); /* lanes a b c d */
	efgh = _mm_alignr_epi8(cdgh, t, 8);   /* lanes e f g h */
	_mm_storeu_si128((__m128i *)(void *)&h[0], abcd);
	_mm_storeu_si128((__m128i *)(void *)&h[4], efgh);
}

/* CPUID: leaf 1 ECX bit 19 is SSE4.1 (which implies the SSSE3 pshufb and
 * palignr used above), leaf 7 subleaf 0 EBX bit 29 is SHA. */
static int cpu_has_shani(void)
{
	unsigned a, b, c, d;

	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 19)))
		return 0;
	if (__get_cpuid_max(0, NULL) < 7)
		return 0;
	__cpuid_count(7, 0, a, b, c, d);
	return (b & (1u << 29)) != 0;
}
#else
static int cpu_has_shani(void)
{
	return 0;
}
#endif

/* --- selection --------------------------------------------------------------- */

enum { IMPL_UNSET, IMPL_PORTABLE, IMPL_SHANI };

/* Chosen on first use.  Threads racing to choose compute the same value,
 * so relaxed atomics are enough. */
static int impl_choice = IMPL_UNSET;

static int impl_get(void)
{
	int v = __atomic_load_n(&impl_choice, __ATOMIC_RELAXED);

	if (v == IMPL_UNSET) {
		v = cpu_has_shani() ? IMPL_SHANI : IMPL_PORTABLE;
		__atomic_store_n(&impl_choice, v, __ATOMIC_RELAXED);
	}
	return v;
}

static void compress(uint32_t h[8], const unsigned char *p, size_t nblocks)
{
#if HAVE_SHANI_BUILD
	if (impl_get() == IMPL_SHANI) {
		compress_shani(h, p, nblocks);
		return;
	}
#endif
	compress_portable(h, p, nblocks);
}

const char *sha256_impl(void)
{
	return impl_get() == IMPL_SHANI ? "sha-ni" : "portable";
}

int sha256_select(const char *impl)
{
	int v;

	if (!impl || !strcmp(impl, "auto")) {
		v = cpu_has_shani() ? IMPL_SHANI : IMPL_PORTABLE;
	} else if (!strcmp(impl, "portable")) {
		v = IMPL_PORTABLE;
	} else if (!strcmp(impl, "sha-ni")) {
		if (!cpu_has_shani())
			return error_set(FURROW_EINVAL,
					 "sha256: this CPU or build has no SHA extensions");
		v = IMPL_SHANI;
	} else {
		return error_set(FURROW_EINVAL,
				 "sha256: unknown implementation \"%s\" "
				 "(sha-ni, portable or auto)", impl);
	}
	__atomic_store_n(&impl_choice, v, __ATOMIC_RELAXED);
	return 0;
}

/* --- hashing ------------------------------------------------------------------ */

void sha256_init(struct sha256_ctx *c)
{
	memcpy(c->h, H0, sizeof(c->h));
	c->total = 0;
	c->buflen = 0;
}

void sha256_update(struct sha256_ctx *c, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t n;

	if (len == 0)
		return;
	c->total += len;
	if (c->buflen > 0) {
		n = SHA256_BLOCK_BYTES - c->buflen;
		if (n > len)
			n = len;
		memcpy(c->buf + c->buflen, p, n);
		c->buflen += n;
		p += n;
		len -= n;
		if (c->buflen < SHA256_BLOCK_BYTES)
			return;
		compress(c->h, c->buf, 1);
		c->buflen = 0;
	}
	n = len / SHA256_BLOCK_BYTES;
	if (n > 0) {
		compress(c->h, p, n);
		p += n * SHA256_BLOCK_BYTES;
		len -= n * SHA256_BLOCK_BYTES;
	}
	if (len > 0) {
		memcpy(c->buf, p, len);
		c->buflen = len;
	}
}

/* Section 5.1.1: a 1 bit, zeros, and the message length in bits as a
 * 64-bit big-endian number, to a multiple of 512 bits. */
void sha256_final(struct sha256_ctx *c, unsigned char out[SHA256_BYTES])
{
	uint64_t bits = c->total << 3;

	c->buf[c->buflen++] = 0x80;
	if (c->buflen > SHA256_BLOCK_BYTES - 8) {
		memset(c->buf + c->buflen, 0, SHA256_BLOCK_BYTES - c->buflen);
		compress(c->h, c->buf, 1);
		c->buflen = 0;
	}
	memset(c->buf + c->buflen, 0, SHA256_BLOCK_BYTES - 8 - c->buflen);
	store_be32(c->buf + 56, (uint32_t)(bits >> 32));
	store_be32(c->buf + 60, (uint32_t)bits);
	compress(c->h, c->buf, 1);
	for (int i = 0; i < 8; i++)
		store_be32(out + 4 * i, c->h[i]);
	explicit_bzero(c, sizeof(*c));
}

void sha256(const void *data, size_t len, unsigned char out[SHA256_BYTES])
{
	struct sha256_ctx c;

	sha256_init(&c);
	sha256_update(&c, data, len);
	sha256_final(&c, out);
}

/* --- HMAC: H((K ^ opad) || H((K ^ ipad) || m)) ------------------------------ */

void hmac_sha256_key_init(struct hmac_sha256_key *k, const unsigned char *key,
			  size_t keylen)
{
	unsigned char block[SHA256_BLOCK_BYTES] = { 0 };

	if (keylen > SHA256_BLOCK_BYTES)
		sha256(key, keylen, block);
	else if (keylen > 0)
		memcpy(block, key, keylen);

	for (int i = 0; i < SHA256_BLOCK_BYTES; i++)
		block[i] ^= 0x36;
	sha256_init(&k->inner);
	sha256_update(&k->inner, block, sizeof(block));

	for (int i = 0; i < SHA256_BLOCK_BYTES; i++)
		block[i] ^= 0x36 ^ 0x5c;
	sha256_init(&k->outer);
	sha256_update(&k->outer, block, sizeof(block));

	explicit_bzero(block, sizeof(block));
}

void hmac_sha256_with(const struct hmac_sha256_key *k, const void *data,
		      size_t len, unsigned char out[SHA256_BYTES])
{
	struct sha256_ctx c = k->inner;
	unsigned char ih[SHA256_BYTES];

	sha256_update(&c, data, len);
	sha256_final(&c, ih);
	c = k->outer;
	sha256_update(&c, ih, sizeof(ih));
	sha256_final(&c, out);
	explicit_bzero(ih, sizeof(ih));
}

void hmac_sha256(const unsigned char *key, size_t keylen, const void *data,
		 size_t len, unsigned char out[SHA256_BYTES])
{
	struct hmac_sha256_key k;

	hmac_sha256_key_init(&k, key, keylen);
	hmac_sha256_with(&k, data, len, out);
	explicit_bzero(&k, sizeof(k));
}
