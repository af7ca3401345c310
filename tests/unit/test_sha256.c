/*
 * test_sha256.c - SHA-256 and HMAC-SHA-256, both compression functions.
 *
 * Published vectors (FIPS 180-4 examples, RFC 4231) on every
 * implementation this CPU has; then random lengths, random split points,
 * random keys compared between the SHA-NI path, the portable path and
 * mbedTLS; then the throughput of each path on 64 KiB chunks, printed
 * (not asserted: this is the sanitizer build on a shared machine).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/md.h>
#include <mbedtls/sha256.h>

#include "error.h"
#include "sha256.h"
#include "tap.h"

#define MAXLEN 1000

static const char *impls[2];
static int nimpls;

static uint64_t rng = 0x9e3779b97f4a7c15ull;

/* xorshift64*: reproducible runs, so a failure can be replayed. */
static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dull;
}

static void fill(unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(rnd() >> 56);
}

static void hex(const unsigned char *bin, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[bin[i] >> 4];
		out[2 * i + 1] = digits[bin[i] & 15];
	}
	out[2 * n] = '\0';
}

static void use(const char *impl)
{
	if (sha256_select(impl) != 0) {
		printf("Bail out! sha256_select(%s): %s\n", impl, error_message());
		exit(1);
	}
}

static void check_hash(const char *name, const void *data, size_t len,
		       const char *want)
{
	unsigned char d[32];
	char got[65];

	sha256(data, len, d);
	hex(d, 32, got);
	is_str(got, want, name);
}

static void vectors(const char *impl)
{
	char name[128];
	char *million = malloc(1000000);
	struct sha256_ctx c;
	unsigned char d[32];
	char got[65];

	use(impl);
	is_str(sha256_impl(), impl, "sha256_impl() names the selected path");
	snprintf(name, sizeof(name), "%s: SHA-256(\"\")", impl);
	check_hash(name, "", 0,
		   "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	snprintf(name, sizeof(name), "%s: SHA-256(\"abc\")", impl);
	check_hash(name, "abc", 3,
		   "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	snprintf(name, sizeof(name), "%s: SHA-256 of the 448-bit message", impl);
	check_hash(name,
		   "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
		   "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	snprintf(name, sizeof(name), "%s: SHA-256 of the 896-bit message", impl);
	check_hash(name,
		   "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
		   "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu", 112,
		   "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
	if (!million) {
		printf("Bail out! out of memory\n");
		exit(1);
	}
	memset(million, 'a', 1000000);
	snprintf(name, sizeof(name), "%s: SHA-256 of one million 'a'", impl);
	check_hash(name, million, 1000000,
		   "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	/* The same, a byte at a time for the first 1000 and then in 997-byte
	 * pieces: the partial-block buffer in every state. */
	sha256_init(&c);
	for (size_t i = 0; i < 1000; i++)
		sha256_update(&c, million + i, 1);
	for (size_t i = 1000; i < 1000000; i += 997)
		sha256_update(&c, million + i, 1000000 - i < 997 ? 1000000 - i : 997);
	sha256_final(&c, d);
	hex(d, 32, got);
	snprintf(name, sizeof(name), "%s: one million 'a' streamed in pieces", impl);
	is_str(got, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
	       name);
	free(million);
}

struct hmac_case {
	int tc;
	unsigned char key[131];
	size_t keylen;
	const char *data;
	size_t datalen;
	const char *want;
};

static void rfc4231(const char *impl)
{
	static struct hmac_case cases[6];
	static const char tc7[] =
		"This is a test using a larger than block-size key and a larger "
		"than block-size data. The key needs to be hashed before being "
		"used by the HMAC algorithm.";
	unsigned char dd[50], cd[50], d[32];
	char got[65], name[128];
	struct hmac_sha256_key k;

	use(impl);
	memset(dd, 0xdd, sizeof(dd));
	memset(cd, 0xcd, sizeof(cd));

	cases[0] = (struct hmac_case){ 1, { 0 }, 20, "Hi There", 8,
		"b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" };
	memset(cases[0].key, 0x0b, 20);
	cases[1] = (struct hmac_case){ 2, "Jefe", 4, "what do ya want for nothing?", 28,
		"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" };
	cases[2] = (struct hmac_case){ 3, { 0 }, 20, (const char *)dd, 50,
		"773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe" };
	memset(cases[2].key, 0xaa, 20);
	cases[3] = (struct hmac_case){ 4, { 0 }, 25, (const char *)cd, 50,
		"82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b" };
	for (int i = 0; i < 25; i++)
		cases[3].key[i] = (unsigned char)(i + 1);
	cases[4] = (struct hmac_case){ 6, { 0 }, 131,
		"Test Using Larger Than Block-Size Key - Hash Key First", 54,
		"60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54" };
	memset(cases[4].key, 0xaa, 131);
	cases[5] = (struct hmac_case){ 7, { 0 }, 131, tc7, sizeof(tc7) - 1,
		"9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2" };
	memset(cases[5].key, 0xaa, 131);

	for (int i = 0; i < 6; i++) {
		struct hmac_case *t = &cases[i];

		hmac_sha256(t->key, t->keylen, t->data, t->datalen, d);
		hex(d, 32, got);
		snprintf(name, sizeof(name), "%s: RFC 4231 test case %d", impl, t->tc);
		is_str(got, t->want, name);
		hmac_sha256_key_init(&k, t->key, t->keylen);
		hmac_sha256_with(&k, t->data, t->datalen, d);
		hex(d, 32, got);
		snprintf(name, sizeof(name), "%s: RFC 4231 test case %d, precomputed key",
			 impl, t->tc);
		is_str(got, t->want, name);
	}
}

/* SHA-256 of data under impl, fed in random pieces. */
static void streamed(const char *impl, const unsigned char *data, size_t len,
		     unsigned char out[32])
{
	struct sha256_ctx c;
	size_t off = 0;

	use(impl);
	sha256_init(&c);
	while (off < len) {
		size_t n = (size_t)(rnd() % 200);

		if (n > len - off)
			n = len - off;
		sha256_update(&c, data + off, n); /* n == 0 too */
		off += n;
	}
	sha256_final(&c, out);
}

static int check_one_length(unsigned char *data, size_t len)
{
	unsigned char want[32], got[32], key[140], hwant[32];
	size_t keylen = (size_t)(rnd() % sizeof(key));
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
	struct hmac_sha256_key k;
	int good = 1;

	fill(data, len);
	fill(key, keylen);
	if (mbedtls_sha256_ret(data, len, want, 0) != 0 ||
	    mbedtls_md_hmac(md, key, keylen, data, len, hwant) != 0) {
		printf("Bail out! mbedTLS failed\n");
		exit(1);
	}
	for (int i = 0; i < nimpls; i++) {
		use(impls[i]);
		sha256(data, len, got);
		good &= !memcmp(got, want, 32);
		streamed(impls[i], data, len, got);
		good &= !memcmp(got, want, 32);
		hmac_sha256(key, keylen, data, len, got);
		good &= !memcmp(got, hwant, 32);
		hmac_sha256_key_init(&k, key, keylen);
		hmac_sha256_with(&k, data, len, got);
		good &= !memcmp(got, hwant, 32);
	}
	if (!good)
		tap_diag("mismatch at length %zu, key length %zu", len, keylen);
	return good;
}

static void random_lengths(void)
{
	size_t big[] = { 65535, 65536, 65537, 262144 + 13, 1u << 20 };
	unsigned char *data = malloc(1u << 20);
	int bad = 0;

	if (!data) {
		printf("Bail out! out of memory\n");
		exit(1);
	}
	for (size_t len = 0; len <= MAXLEN; len++)
		bad += !check_one_length(data, len);
	is_int(bad, 0, "lengths 0..1000: SHA-256 one-shot and streamed, HMAC "
		       "one-shot and precomputed, every path, equal to mbedTLS");
	bad = 0;
	for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++)
		bad += !check_one_length(data, big[i]);
	is_int(bad, 0, "lengths around 64 KiB up to 1 MiB: equal to mbedTLS");

	/* One precomputed key, many messages: the key's state is not
	 * changed by use. */
	{
		struct hmac_sha256_key k, copy;
		unsigned char key[32], a[32], b[32];
		int same = 1;

		fill(key, sizeof(key));
		hmac_sha256_key_init(&k, key, sizeof(key));
		copy = k;
		for (int i = 0; i < 100; i++) {
			size_t len = (size_t)(rnd() % 5000);

			fill(data, len);
			hmac_sha256_with(&k, data, len, a);
			hmac_sha256(key, sizeof(key), data, len, b);
			same &= !memcmp(a, b, 32);
		}
		ok(same && !memcmp(&k, &copy, sizeof(k)),
		   "a precomputed key gives one-shot results, and is only read");
	}
	free(data);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void throughput(const char *impl)
{
	enum { CHUNK = 64 * 1024 };
	unsigned char *chunk = malloc(CHUNK), key[32], id[32];
	struct hmac_sha256_key k;
	double start, elapsed;
	size_t n = 0;

	if (!chunk) {
		printf("Bail out! out of memory\n");
		exit(1);
	}
	use(impl);
	fill(chunk, CHUNK);
	fill(key, sizeof(key));
	hmac_sha256_key_init(&k, key, sizeof(key));
	start = now();
	do {
		for (int i = 0; i < 16; i++, n++) {
			hmac_sha256_with(&k, chunk, CHUNK, id);
			chunk[0] ^= id[0]; /* keep the calls dependent */
		}
		elapsed = now() - start;
	} while (elapsed < 0.3);
	tap_diag("%-8s HMAC-SHA-256 of 64 KiB chunks: %.0f MB/s (%zu chunks in %.2f s)",
		 impl, (double)n * CHUNK / elapsed / 1e6, n, elapsed);
	free(chunk);
}

int main(void)
{
	int rc;

	impls[nimpls++] = "portable";
	if (sha256_select("sha-ni") == 0)
		impls[nimpls++] = "sha-ni";
	else
		tap_diag("no SHA extensions on this CPU: only the portable path is tested");
	use("auto");
	tap_diag("automatic choice: %s", sha256_impl());
	ok(!strcmp(sha256_impl(), impls[nimpls - 1]),
	   "auto picks the fastest path this CPU has");

	rc = sha256_select("sha-1");
	is_int(rc, FURROW_EINVAL, "an unknown implementation is refused");
	ok(strstr(error_message(), "sha-1") != NULL, "and named: %s", error_message());
	error_clear();

	for (int i = 0; i < nimpls; i++) {
		vectors(impls[i]);
		rfc4231(impls[i]);
	}
	random_lengths();
	for (int i = 0; i < nimpls; i++)
		throughput(impls[i]);
	use("auto");
	return tap_done();
}
