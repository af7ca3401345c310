/*
 * test_compress.c - zstd frames: round trips, the size limit, and
 * corrupt, truncated, undeclared-size and trailing bytes that must be
 * refused with FURROW_ESYNTAX, never trusted or crashed on.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "compress.h"
#include "error.h"
#include "strbuf.h"
#include "tap.h"

static const unsigned char magic[4] = { 0x28, 0xb5, 0x2f, 0xfd };

/* Deterministic bytes that do not compress (xorshift64). */
static void random_bytes(struct strbuf *sb, size_t n, uint64_t seed)
{
	uint64_t x = seed ? seed : 1;

	strbuf_grow(sb, n);
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		sb->buf[sb->len + i] = (char)(x >> 56);
	}
	strbuf_setlen(sb, sb->len + n);
}

static void text_bytes(struct strbuf *sb, size_t n)
{
	for (size_t i = 0; sb->len < n; i++)
		strbuf_addf(sb, "app=web-%zu state=running restarts=0\n", i % 97);
	strbuf_setlen(sb, n);
}

static void round_trip(const void *in, size_t len, int level, const char *name)
{
	struct strbuf z = STRBUF_INIT, out = STRBUF_INIT;

	is_int(compress_zstd(&z, in, len, level), 0, name);
	ok(z.len >= 4 && !memcmp(z.buf, magic, 4), "... is a zstd frame (%zu bytes)",
	   z.len);
	is_int(decompress_zstd(&out, z.buf, z.len, len), 0,
	       "... decompresses with max_out = its size");
	ok(out.len == len && (!len || !memcmp(out.buf, in, len)),
	   "... to the same %zu bytes", len);
	ok(out.buf[out.len] == '\0', "... NUL-terminated");
	strbuf_release(&z);
	strbuf_release(&out);
}

static void refused(const void *in, size_t len, size_t max_out, int code,
		    const char *msg, const char *name)
{
	struct strbuf out = STRBUF_INIT;

	strbuf_addstr(&out, "keep");
	error_clear();
	is_int(decompress_zstd(&out, in, len, max_out), code, name);
	ok(strstr(error_message(), msg) != NULL, "... message: %s",
	   error_message());
	ok(out.len == 4 && !strcmp(out.buf, "keep"), "... out unchanged");
	strbuf_release(&out);
}

/*
 * Every one-bit change of the frame z (of the len bytes at orig) is
 * refused, or decodes to orig exactly: the frame header's "unused" bit
 * (byte 4, bit 4) must be ignored by decoders (RFC 8878 3.1.1.1.1), so
 * flipping it is harmless.  Every truncation is refused.
 */
static void hostile_variants(const struct strbuf *z, const char *orig, size_t len)
{
	struct strbuf bad = STRBUF_INIT, out = STRBUF_INIT;
	int flips_ok = 1, cuts_ok = 1, rc;

	for (size_t i = 0; i < z->len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			strbuf_reset(&bad);
			strbuf_add(&bad, z->buf, z->len);
			bad.buf[i] ^= (char)(1 << bit);
			strbuf_reset(&out);
			error_clear();
			rc = decompress_zstd(&out, bad.buf, bad.len, len + 16);
			if (rc == 0 && out.len == len && !memcmp(out.buf, orig, len))
				continue;
			if ((rc != FURROW_ESYNTAX && rc != FURROW_ELIMIT) ||
			    !error_message()[0] || out.len) {
				if (flips_ok)
					tap_diag("byte %zu bit %d: rc %d '%s'", i, bit,
						 rc, error_message());
				flips_ok = 0;
			}
		}
	}
	ok(flips_ok, "every one-bit change of a %zu-byte frame is refused or harmless",
	   z->len);
	for (size_t n = 0; n < z->len; n++) {
		strbuf_reset(&out);
		error_clear();
		rc = decompress_zstd(&out, z->buf, n, len);
		if (rc != FURROW_ESYNTAX || !error_message()[0] || out.len) {
			if (cuts_ok)
				tap_diag("cut at %zu: rc %d '%s'", n, rc, error_message());
			cuts_ok = 0;
		}
	}
	ok(cuts_ok, "every truncation of the frame is FURROW_ESYNTAX");
	strbuf_release(&bad);
	strbuf_release(&out);
}

struct worker {
	uint64_t seed;
	int ok;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct strbuf in = STRBUF_INIT, z = STRBUF_INIT, out = STRBUF_INIT;

	w->ok = 1;
	for (int i = 0; i < 20 && w->ok; i++) {
		strbuf_reset(&in);
		strbuf_reset(&z);
		strbuf_reset(&out);
		text_bytes(&in, 4096 + (size_t)i * 1000);
		random_bytes(&in, 512, w->seed + (uint64_t)i);
		if (compress_zstd(&z, in.buf, in.len, 1 + i % 3) ||
		    decompress_zstd(&out, z.buf, z.len, in.len) ||
		    out.len != in.len || memcmp(out.buf, in.buf, in.len))
			w->ok = 0;
	}
	strbuf_release(&in);
	strbuf_release(&z);
	strbuf_release(&out);
	return NULL;
}

int main(void)
{
	struct strbuf rnd = STRBUF_INIT, txt = STRBUF_INIT, z = STRBUF_INIT;
	struct strbuf out = STRBUF_INIT, bad = STRBUF_INIT;
	struct worker w[4];
	pthread_t th[4];
	int threads_ok = 1;

	ok(!strncmp(compress_zstd_version(), "1.5.", 4), "version %s",
	   compress_zstd_version());

	/* Round trips. */
	round_trip(NULL, 0, COMPRESS_ZSTD_LEVEL_DEFAULT, "empty input");
	round_trip("x", 1, COMPRESS_ZSTD_LEVEL_DEFAULT, "one byte");
	random_bytes(&rnd, 256 * 1024, 42);
	round_trip(rnd.buf, rnd.len, COMPRESS_ZSTD_LEVEL_DEFAULT, "256 KiB random");
	is_int(compress_zstd(&z, rnd.buf, rnd.len, 1), 0, "random at level 1");
	ok(z.len <= rnd.len + rnd.len / 128 + 64,
	   "... grows by little (%zu -> %zu bytes)", rnd.len, z.len);
	text_bytes(&txt, 1024 * 1024);
	for (int level = 1; level <= 3; level++) {
		strbuf_reset(&z);
		is_int(compress_zstd(&z, txt.buf, txt.len, level), 0,
		       "1 MiB of text at level 1..3");
		ok(z.len * 20 < txt.len, "... compresses well (%zu -> %zu bytes)",
		   txt.len, z.len);
	}
	round_trip(txt.buf, 64 * 1024, COMPRESS_ZSTD_LEVEL_MAX, "64 KiB of text at the max level");

	/* Appends to what out holds, on both sides. */
	strbuf_reset(&z);
	strbuf_addstr(&z, "head");
	is_int(compress_zstd(&z, "abc", 3, 1), 0, "compress appends");
	ok(!memcmp(z.buf, "head", 4), "... after what out held");
	strbuf_addstr(&out, "pre:");
	is_int(decompress_zstd(&out, z.buf + 4, z.len - 4, 3), 0, "decompress appends");
	is_str(out.buf, "pre:abc", "... after what out held");
	strbuf_reset(&out);

	/* Levels. */
	strbuf_reset(&z);
	is_int(compress_zstd(&z, "abc", 3, 0), FURROW_EINVAL, "level 0 is refused");
	ok(strstr(error_message(), "level 0") != NULL, "... message: %s",
	   error_message());
	is_int(compress_zstd(&z, "abc", 3, COMPRESS_ZSTD_LEVEL_MAX + 1), FURROW_EINVAL,
	       "a level above the max is refused");
	is_int(compress_zstd(&z, "abc", 3, -1), FURROW_EINVAL,
	       "negative (fast) levels are refused");
	is_int((int)z.len, 0, "... out unchanged");

	/* max_out: checked against the declared size before allocating. */
	strbuf_reset(&z);
	compress_zstd(&z, txt.buf, txt.len, 1);
	refused(z.buf, z.len, txt.len - 1, FURROW_ELIMIT, "over the limit of 1048575",
		"declared size one over max_out");
	refused(z.buf, z.len, 0, FURROW_ELIMIT, "declares 1048576 bytes",
		"max_out 0 refuses any content");
	is_int(decompress_zstd(&out, z.buf, z.len, txt.len), 0,
	       "declared size equal to max_out is fine");
	ok(out.alloc <= txt.len + 1, "... and out holds only that (%zu allocated)",
	   out.alloc);
	strbuf_release(&out);
	{
		/* A 16-byte frame that claims 2^40 bytes: refused at once. */
		static const unsigned char big[] = {
			0x28, 0xb5, 0x2f, 0xfd, 0xe0, 0, 0, 0, 0, 0, 1, 0, 0,
			0x01, 0x00, 0x00
		};
		refused(big, sizeof(big), 64u << 20, FURROW_ELIMIT,
			"declares 1099511627776 bytes", "a tiny frame claiming 1 TiB");
	}

	/* Not a frame / not the frames we accept. */
	refused("", 0, 100, FURROW_ESYNTAX, "too short", "empty input");
	refused(magic, 3, 100, FURROW_ESYNTAX, "too short", "three bytes");
	refused("hello, world", 12, 100, FURROW_ESYNTAX, "not a zstd frame", "plain text");
	{
		static const unsigned char skippable[] = { 0x50, 0x2a, 0x4d, 0x18,
							   0, 0, 0, 0 };
		static const unsigned char unknown[] = { /* no content size */
			0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x00, 0x09, 0x00, 0x00, 'a'
		};
		static const unsigned char says2[] = { /* declares 2, holds 1 */
			0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x02, 0x09, 0x00, 0x00, 'a'
		};
		static const unsigned char says1[] = { /* declares 1, holds 2 */
			0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x01, 0x11, 0x00, 0x00, 'a', 'b'
		};
		static const unsigned char says1ok[] = {
			0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x01, 0x09, 0x00, 0x00, 'a'
		};

		refused(skippable, sizeof(skippable), 100, FURROW_ESYNTAX,
			"not a zstd frame", "a skippable frame");
		refused(unknown, sizeof(unknown), 100, FURROW_ESYNTAX,
			"does not declare its content size", "a frame without content size");
		refused(says2, sizeof(says2), 100, FURROW_ESYNTAX, "corruption",
			"a frame holding less than it declares");
		refused(says1, sizeof(says1), 100, FURROW_ESYNTAX, "holds more than the 1 bytes",
			"a frame holding more than it declares");
		is_int(decompress_zstd(&out, says1ok, sizeof(says1ok), 1), 0,
		       "a hand-made frame without checksum decodes");
		is_str(out.buf, "a", "... to its content");
		strbuf_reset(&out);
	}

	/* Trailing bytes. */
	strbuf_reset(&z);
	compress_zstd(&z, "hello", 5, 3);
	strbuf_add(&bad, z.buf, z.len);
	strbuf_addch(&bad, 0);
	refused(bad.buf, bad.len, 100, FURROW_ESYNTAX, "trailing data after the frame (1 bytes)",
		"one byte after the frame");
	strbuf_reset(&bad);
	strbuf_add(&bad, z.buf, z.len);
	strbuf_add(&bad, z.buf, z.len);
	refused(bad.buf, bad.len, 100, FURROW_ESYNTAX, "after the frame",
		"two concatenated frames");

	/* Corrupt and truncated: a small text frame and a small raw one. */
	strbuf_reset(&z);
	compress_zstd(&z, txt.buf, 2000, 3);
	hostile_variants(&z, txt.buf, 2000);
	strbuf_reset(&z);
	compress_zstd(&z, rnd.buf, 300, 3);
	hostile_variants(&z, rnd.buf, 300);
	strbuf_reset(&bad);
	strbuf_reset(&z);
	compress_zstd(&z, txt.buf, txt.len, 3);
	strbuf_add(&bad, z.buf, z.len);
	bad.buf[bad.len / 2] ^= 0x55;
	refused(bad.buf, bad.len, txt.len, FURROW_ESYNTAX, "zstd: ",
		"a corrupted byte in the middle of a 1 MiB frame");

	/* Thread safety: concurrent calls share nothing. */
	for (int i = 0; i < 4; i++) {
		w[i].seed = (uint64_t)i + 7;
		pthread_create(&th[i], NULL, worker_main, &w[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		threads_ok &= w[i].ok;
	}
	ok(threads_ok, "4 threads compressing and decompressing at once");

	strbuf_release(&rnd);
	strbuf_release(&txt);
	strbuf_release(&z);
	strbuf_release(&out);
	strbuf_release(&bad);
	return tap_done();
}
