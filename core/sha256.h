/*
 * sha256.h - SHA-256 (FIPS 180-4) and HMAC-SHA-256 (RFC 2104), fast.
 *
 * Backup chunk ids are HMAC-SHA-256 over every chunk of multi-GiB
 * backups, so hashing is on the hot path.  mbedTLS 2.28 only has a
 * software SHA-256 (~250 MB/s); here the compression function uses the
 * x86 SHA extensions (SHA-NI) when the CPU has them, chosen once at run
 * time with cpuid, and a portable C implementation otherwise.  Both give
 * identical results; tests/unit/test_sha256.c checks them against each
 * other, against published vectors and against mbedTLS.
 *
 * Nothing here allocates or fails.  Contexts and keys are plain structs
 * without resources: no release is needed, and a const struct
 * hmac_sha256_key may be used by several threads at once.  The structs
 * hold key-equivalent state; wipe them (explicit_bzero) when done if the
 * key is secret.
 */
#ifndef FURROW_SHA256_H
#define FURROW_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_BYTES       32 /* digest */
#define SHA256_BLOCK_BYTES 64 /* compression block, and HMAC key block */

struct sha256_ctx {
	uint32_t h[8];                       /* chaining state */
	uint64_t total;                      /* bytes hashed so far */
	unsigned char buf[SHA256_BLOCK_BYTES]; /* partial block */
	size_t buflen;                       /* bytes in buf, < 64 */
};

/* Start a new hash. */
void sha256_init(struct sha256_ctx *c);

/* Hash len more bytes of data (data may be NULL when len is 0). */
void sha256_update(struct sha256_ctx *c, const void *data, size_t len);

/* Write the digest of everything hashed into out; c is wiped and must be
 * initialised again before reuse. */
void sha256_final(struct sha256_ctx *c, unsigned char out[SHA256_BYTES]);

/* One-shot SHA-256 of data[0..len). */
void sha256(const void *data, size_t len, unsigned char out[SHA256_BYTES]);

/*
 * HMAC-SHA-256 (RFC 2104) of data[0..len) under key[0..keylen).  Keys of
 * up to 64 bytes are used as they are (furrow's are 32); a longer key is
 * first hashed, as RFC 2104 says.
 */
void hmac_sha256(const unsigned char *key, size_t keylen, const void *data,
		 size_t len, unsigned char out[SHA256_BYTES]);

/*
 * Precomputed HMAC: the states after the inner and outer key blocks,
 * computed once per key, so that each message costs only its own blocks
 * plus one for the outer hash (for millions of chunks under one key).
 */
struct hmac_sha256_key {
	struct sha256_ctx inner; /* after (key ^ ipad) */
	struct sha256_ctx outer; /* after (key ^ opad) */
};

/* Prepare k for key[0..keylen) (any length, as hmac_sha256()). */
void hmac_sha256_key_init(struct hmac_sha256_key *k, const unsigned char *key,
			  size_t keylen);

/* HMAC-SHA-256 of data[0..len) under k; equal to hmac_sha256() with the
 * key k was prepared with.  k is only read. */
void hmac_sha256_with(const struct hmac_sha256_key *k, const void *data,
		      size_t len, unsigned char out[SHA256_BYTES]);

/* The compression function in use: "sha-ni" or "portable", for logs and
 * benchmarks.  Never NULL. */
const char *sha256_impl(void);

/*
 * For tests and benchmarks: use the implementation named impl ("sha-ni"
 * or "portable"), or with NULL or "auto" go back to the best one this
 * CPU supports.  Returns 0; FURROW_EINVAL for an unknown name or
 * "sha-ni" on a CPU (or a build for an architecture) without it.  Not
 * thread-safe: call it before other threads hash.
 */
int sha256_select(const char *impl);

#endif
