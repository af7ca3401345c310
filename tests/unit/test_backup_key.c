/*
 * test_backup_key.c - backup keys and sealed blobs (core/backup_key.c):
 * key file generation and loading, hostile and malformed key files, key
 * derivation, chunk ids (with RFC 4231 known answers), AES-256-GCM
 * sealing with every bit flip, truncation and misplacement refused, the
 * documented blob layout, and concurrent use of one key.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/gcm.h>

#include "backup_key.h"
#include "error.h"
#include "strbuf.h"
#include "tap.h"

static char path[512];

static void put(const char *name, const char *data, size_t len, mode_t mode)
{
	int fd;

	snprintf(path, sizeof(path), "%s/%s", tap_tmpdir(), name);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, data, len) != (ssize_t)len || fchmod(fd, mode) ||
	    close(fd)) {
		perror(path);
		_exit(99);
	}
}

static int is_zero(const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return 0;
	return 1;
}

static const char HEX[] =
	"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

static void test_generate_load(void)
{
	struct backup_key a, b, c;
	char buf[200], other[512], hexline[65];
	struct stat st;
	mode_t old;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/gen.key", tap_tmpdir());
	old = umask(0);
	is_int(backup_key_generate(path), 0, "generate");
	umask(old);
	ok(lstat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	   (st.st_mode & 07777) == 0600, "generated file is mode 0600 (umask 0)");

	fd = open(path, O_RDONLY);
	n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	ok(n == 86 && !strncmp(buf, "furrow-backup-key-v1 ", 21) &&
	   buf[85] == '\n' && strspn(buf + 21, "0123456789abcdef") == 64,
	   "file is one line: header, 64 lowercase hex, newline (%zd bytes)", n);

	is_int(backup_key_load(&a, path), 0, "load the generated key");
	is_int(backup_key_load(&b, path), 0, "load it again");
	ok(!memcmp(&a, &b, sizeof(a)), "loading is deterministic");
	ok(!is_zero(&a, sizeof(a)), "loaded key is not zero");

	/* The file's hex is the master: derive from it by hand. */
	{
		unsigned char master[32];

		for (int i = 0; i < 32; i++) {
			unsigned v;

			sscanf(buf + 21 + 2 * i, "%2x", &v);
			master[i] = (unsigned char)v;
		}
		backup_key_derive(&c, master);
		ok(!memcmp(&a, &c, sizeof(a)), "load == derive(hex of the file)");
		backup_hex(master, 32, hexline);
		ok(!strncmp(hexline, buf + 21, 64), "backup_hex round-trips the file's hex");
	}

	/* Refuse to overwrite: the key must be unchanged. */
	is_int(backup_key_generate(path), FURROW_EINVAL, "generate over an existing file: EINVAL");
	ok(strstr(error_message(), "exists") && strstr(error_message(), path),
	   "message says it exists and names it: %s", error_message());
	is_int(backup_key_load(&b, path), 0, "the existing key still loads");
	ok(!memcmp(&a, &b, sizeof(a)), "and is unchanged");

	/* A dangling symlink at the path is not followed. */
	snprintf(other, sizeof(other), "%s/link-target", tap_tmpdir());
	snprintf(path, sizeof(path), "%s/link.key", tap_tmpdir());
	unlink(path);
	if (symlink(other, path) < 0)
		perror("symlink");
	is_int(backup_key_generate(path), FURROW_EINVAL, "generate at a dangling symlink: EINVAL");
	ok(lstat(other, &st) < 0 && errno == ENOENT, "the symlink's target was not created");
	unlink(path);

	/* umask 077 must not matter either, and a second key differs. */
	snprintf(path, sizeof(path), "%s/gen2.key", tap_tmpdir());
	old = umask(0277);
	is_int(backup_key_generate(path), 0, "generate under umask 0277");
	umask(old);
	ok(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600,
	   "mode 0600 whatever the umask");
	is_int(backup_key_load(&b, path), 0, "load the second key");
	ok(memcmp(a.id_key, b.id_key, 32) && memcmp(a.enc_key, b.enc_key, 32) &&
	   memcmp(a.gear_seed, b.gear_seed, 32) && memcmp(a.check, b.check, 32),
	   "two generated keys share nothing");

	snprintf(path, sizeof(path), "%s/no/such/dir/k", tap_tmpdir());
	is_int(backup_key_generate(path), FURROW_EIO, "generate into a missing directory: EIO");
	tap_diag("%s", error_message());

	backup_key_wipe(&a);
	ok(is_zero(&a, sizeof(a)), "wipe zeroes the key");
	backup_key_wipe(NULL);
	backup_key_wipe(&b);
	backup_key_wipe(&c);
}

/* Load the file just put; expect code, a message naming it and no
 * byte of the key, and a zeroed key. */
static void refused(int code, const char *what)
{
	struct backup_key k;
	int ret;

	memset(&k, 0x5a, sizeof(k));
	ret = backup_key_load(&k, path);
	if (ret == code && strstr(error_message(), path) &&
	    !strstr(error_message(), "0a0b0c") && is_zero(&k, sizeof(k)))
		ok(1, "%s: %s: %s", what, error_name(code), error_message());
	else
		ok(0, "%s: got %d (%s), want %d, zeroed %d", what, ret,
		   error_message(), code, is_zero(&k, sizeof(k)));
}

static void put_line(const char *name, const char *s)
{
	put(name, s, strlen(s), 0600);
}

static void test_malformed(void)
{
	char big[BACKUP_KEY_FILE_BYTES + 2];
	struct backup_key k, want;
	unsigned char master[32];
	time_t t0;

	for (int i = 0; i < 32; i++)
		master[i] = (unsigned char)i;
	backup_key_derive(&want, master);

	put_line("ok.key", "furrow-backup-key-v1 " "000102030405060708090a0b0c0d0e0f"
		 "101112131415161718191a1b1c1d1e1f\n");
	is_int(backup_key_load(&k, path), 0, "a hand-written key file loads");
	ok(!memcmp(&k, &want, sizeof(k)), "its key is derive(master)");

	put_line("nonl.key", "furrow-backup-key-v1 " "000102030405060708090a0b0c0d0e0f"
		 "101112131415161718191a1b1c1d1e1f");
	is_int(backup_key_load(&k, path), 0, "no final newline: accepted");
	ok(!memcmp(&k, &want, sizeof(k)), "and the same key");

	put("mode.key", "furrow-backup-key-v1 000102030405060708090a0b0c0d0e0f"
	    "101112131415161718191a1b1c1d1e1f\n", 86, 0644);
	refused(FURROW_EINVAL, "mode 0644");
	ok(strstr(error_message(), "chmod 600") != NULL, "the message says chmod 600");
	chmod(path, 0640);
	refused(FURROW_EINVAL, "mode 0640");
	chmod(path, 0604);
	refused(FURROW_EINVAL, "mode 0604");
	chmod(path, 0601);
	refused(FURROW_EINVAL, "mode 0601");
	chmod(path, 0400);
	is_int(backup_key_load(&k, path), 0, "mode 0400: accepted");

	put_line("hdr.key", "furrow-backup-key-v2 000102030405060708090a0b0c0d0e0f"
		 "101112131415161718191a1b1c1d1e1f\n");
	refused(FURROW_ESYNTAX, "wrong header");
	put_line("tab.key", "furrow-backup-key-v1\t000102030405060708090a0b0c0d0e0f"
		 "101112131415161718191a1b1c1d1e1f\n");
	refused(FURROW_ESYNTAX, "tab after the header");
	put_line("lead.key", " furrow-backup-key-v1 000102030405060708090a0b0c0d0e0f"
		 "101112131415161718191a1b1c1d1e1f\n");
	refused(FURROW_ESYNTAX, "leading blank");
	put_line("2sp.key", "furrow-backup-key-v1  000102030405060708090a0b0c0d0e0f"
		 "101112131415161718191a1b1c1d1e1f\n");
	refused(FURROW_ESYNTAX, "two blanks after the header");
	put_line("short.key", "furrow-backup-key-v1 000102030405060708090a0b0c0d0e0f"
		 "101112131415161718191a1b1c1d1e\n");
	refused(FURROW_ESYNTAX, "62 hex digits");
	put_line("odd.key", "furrow-backup-key-v1 000102030405060708090a0b0c0d0e0f"
		 "101112131415161718191a1b1c1d1e1\n");
	refused(FURROW_ESYNTAX, "63 hex digits");
	put_line("long.key", "furrow-backup-key-v1 000102030405060708090a0b0c0d0e0f"
		 "101112131415161718191a1b1c1d1e1f2\n");
	refused(FURROW_ESYNTAX, "65 hex digits");
	put_line("upper.key", "furrow-backup-key-v1 000102030405060708090A0B0C0D0E0F"
		 "101112131415161718191a1b1c1d1e1f\n");
	refused(FURROW_ESYNTAX, "uppercase hex");
	put_line("g.key", "furrow-backup-key-v1 000102030405060708090a0b0c0d0e0g"
		 "101112131415161718191a1b1c1d1e1f\n");
	refused(FURROW_ESYNTAX, "a non-hex letter");
	put_line("junk.key", "furrow-backup-key-v1 000102030405060708090a0b0c0d0e0f"
		 "101112131415161718191a1b1c1d1e1f junk\n");
	refused(FURROW_ESYNTAX, "trailing junk on the line");
	put_line("crlf.key", "furrow-backup-key-v1 000102030405060708090a0b0c0d0e0f"
		 "101112131415161718191a1b1c1d1e1f\r\n");
	refused(FURROW_ESYNTAX, "CRLF");
	put_line("2nl.key", "furrow-backup-key-v1 000102030405060708090a0b0c0d0e0f"
		 "101112131415161718191a1b1c1d1e1f\n\n");
	refused(FURROW_ESYNTAX, "a blank second line");
	put_line("2line.key", "furrow-backup-key-v1 000102030405060708090a0b0c0d0e0f"
		 "101112131415161718191a1b1c1d1e1f\n# comment\n");
	refused(FURROW_ESYNTAX, "a second line");
	put("nul.key", "furrow-backup-key-v1 000102030405060708090a0b0c0d0e0f"
	    "101112131415161718191a1b1c1d1e1f\n\0", 87, 0600);
	refused(FURROW_ESYNTAX, "a NUL after the line");
	put("nul2.key", "furrow-backup-key-v1 000102030405060708090a0b0c0d\0e0f"
	    "101112131415161718191a1b1c1d1e1f\n", 86, 0600);
	refused(FURROW_ESYNTAX, "a NUL inside the hex");
	put_line("empty.key", "");
	refused(FURROW_ESYNTAX, "empty file");
	put_line("hdronly.key", "furrow-backup-key-v1\n");
	refused(FURROW_ESYNTAX, "header only");

	memset(big, 'a', sizeof(big));
	memcpy(big, "furrow-backup-key-v1 ", 21);
	put("big.key", big, BACKUP_KEY_FILE_BYTES, 0600);
	refused(FURROW_ESYNTAX, "exactly BACKUP_KEY_FILE_BYTES of junk");
	put("big2.key", big, BACKUP_KEY_FILE_BYTES + 1, 0600);
	refused(FURROW_ELIMIT, "one byte over BACKUP_KEY_FILE_BYTES");

	snprintf(path, sizeof(path), "%s/absent.key", tap_tmpdir());
	refused(FURROW_ENOENT, "missing file");

	snprintf(path, sizeof(path), "%s/dir.key", tap_tmpdir());
	mkdir(path, 0700);
	refused(FURROW_EINVAL, "a directory");
	rmdir(path);

	snprintf(path, sizeof(path), "%s/fifo.key", tap_tmpdir());
	unlink(path);
	if (mkfifo(path, 0600) < 0)
		perror("mkfifo");
	t0 = time(NULL);
	refused(FURROW_EINVAL, "a FIFO");
	ok(time(NULL) - t0 < 2, "a FIFO with no writer does not block");
	unlink(path);
	backup_key_wipe(&k);
	backup_key_wipe(&want);
}

static void test_derive(void)
{
	unsigned char m1[32], m2[32];
	struct backup_key a, b;
	const unsigned char *fa[4], *fb[4];

	memset(m1, 0x11, sizeof(m1));
	memcpy(m2, m1, sizeof(m2));
	m2[31] ^= 1;
	backup_key_derive(&a, m1);
	backup_key_derive(&b, m2);
	fa[0] = a.id_key, fa[1] = a.enc_key, fa[2] = a.gear_seed, fa[3] = a.check;
	fb[0] = b.id_key, fb[1] = b.enc_key, fb[2] = b.gear_seed, fb[3] = b.check;
	{
		int distinct = 1, depend = 1, notmaster = 1;

		for (int i = 0; i < 4; i++) {
			for (int j = i + 1; j < 4; j++)
				distinct &= memcmp(fa[i], fa[j], 32) != 0;
			for (int j = 0; j < 4; j++)
				depend &= memcmp(fa[i], fb[j], 32) != 0;
			notmaster &= memcmp(fa[i], m1, 32) != 0;
		}
		ok(distinct, "the four derived keys differ from each other");
		ok(depend, "one flipped master bit changes every derived key");
		ok(notmaster, "no derived key is the master");
	}
	backup_key_derive(&b, m1);
	ok(!memcmp(&a, &b, sizeof(a)), "derivation is deterministic");
}

static void hex_to(const char *hex, unsigned char *out)
{
	for (size_t i = 0; hex[2 * i]; i++) {
		unsigned v;

		sscanf(hex + 2 * i, "%2x", &v);
		out[i] = (unsigned char)v;
	}
}

static void test_chunk_id(void)
{
	struct backup_key k, k2;
	unsigned char id[BACKUP_ID_BYTES], id2[BACKUP_ID_BYTES], m[32];
	char hex[2 * BACKUP_ID_BYTES + 1];

	/* RFC 4231: HMAC zero-pads keys shorter than the block to 64 bytes,
	 * so a 32-byte id_key of "Jefe" and zeros is the key "Jefe". */
	memset(&k, 0, sizeof(k));
	memcpy(k.id_key, "Jefe", 4);
	/* backup_chunk_id() uses the prepared key derive() makes. */
	hmac_sha256_key_init(&k.id_mac, k.id_key, sizeof(k.id_key));
	backup_chunk_id(&k, "what do ya want for nothing?", 28, id);
	backup_hex(id, sizeof(id), hex);
	is_str(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
	       "RFC 4231 test case 2 (HMAC-SHA-256)");
	memset(k.id_key, 0x0b, 20);
	hmac_sha256_key_init(&k.id_mac, k.id_key, sizeof(k.id_key));
	backup_chunk_id(&k, "Hi There", 8, id);
	backup_hex(id, sizeof(id), hex);
	is_str(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
	       "RFC 4231 test case 1 (HMAC-SHA-256)");

	memset(m, 7, sizeof(m));
	backup_key_derive(&k, m);
	m[0] ^= 0x80;
	backup_key_derive(&k2, m);
	backup_chunk_id(&k, "chunk", 5, id);
	backup_chunk_id(&k, "chunk", 5, id2);
	ok(!memcmp(id, id2, sizeof(id)), "chunk id is deterministic");
	backup_chunk_id(&k2, "chunk", 5, id2);
	ok(memcmp(id, id2, sizeof(id)), "chunk id depends on the key");
	backup_chunk_id(&k, "chunK", 5, id2);
	ok(memcmp(id, id2, sizeof(id)), "chunk id depends on the content");
	backup_chunk_id(&k, "", 0, id2);
	ok(memcmp(id, id2, sizeof(id)) && !is_zero(id2, sizeof(id2)), "empty chunk has an id");

	hex[0] = 'x';
	backup_hex((const unsigned char *)"\x00\xff\x5a", 3, hex);
	is_str(hex, "00ff5a", "backup_hex is lowercase and NUL-terminated");
	backup_hex(NULL, 0, hex);
	is_str(hex, "", "backup_hex of nothing");
}

static void test_seal_open(void)
{
	struct backup_key k, k2;
	struct strbuf blob = STRBUF_INIT, plain = STRBUF_INIT, b2 = STRBUF_INIT;
	unsigned char m[32], name[BACKUP_ID_BYTES];
	static const size_t sizes[] = { 0, 1, 15, 16, 17, 300 * 1024 };
	char *big;

	hex_to(HEX, m);
	backup_key_derive(&k, m);
	m[5] ^= 1;
	backup_key_derive(&k2, m);
	big = malloc(300 * 1024);
	for (size_t i = 0; i < 300 * 1024; i++)
		big[i] = (char)(i * 131 + (i >> 9));
	backup_chunk_id(&k, big, 300 * 1024, name);

	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		size_t n = sizes[s];
		int good;

		strbuf_reset(&blob);
		strbuf_addstr(&blob, "prefix");
		is_int(backup_seal(&k, 'c', name, sizeof(name), big, n, &blob), 0,
		       "seal");
		ok(blob.len == 6 + n + BACKUP_SEAL_OVERHEAD && !memcmp(blob.buf, "prefix", 6) &&
		   blob.buf[blob.len] == '\0',
		   "seal of %zu bytes appends %zu bytes", n, n + BACKUP_SEAL_OVERHEAD);
		ok(n < 16 || !memmem(blob.buf, blob.len, big, 16),
		   "the plaintext does not appear in the blob (%zu bytes)", n);
		strbuf_reset(&plain);
		strbuf_addstr(&plain, "kept");
		good = backup_open_blob(&k, 'c', name, sizeof(name),
					blob.buf + 6, blob.len - 6, &plain) == 0;
		ok(good && plain.len == 4 + n && !memcmp(plain.buf, "kept", 4) &&
		   !memcmp(plain.buf + 4, big, n) && plain.buf[plain.len] == '\0',
		   "open of %zu bytes round-trips, appended", n);
	}

	/* Small blob: every single bit flip, every truncation, extension. */
	strbuf_reset(&blob);
	backup_seal(&k, 's', "snap/1", 6, "hello", 5, &blob);
	{
		int bad = 0, outbad = 0;

		strbuf_reset(&plain);
		strbuf_addstr(&plain, "kept");
		for (size_t bit = 0; bit < 8 * blob.len; bit++) {
			int want = bit < 8 ? FURROW_ESYNTAX : FURROW_EVERIFY;

			blob.buf[bit / 8] ^= (char)(1 << (bit % 8));
			if (backup_open_blob(&k, 's', "snap/1", 6, blob.buf,
					     blob.len, &plain) != want) {
				bad++;
				tap_diag("bit %zu: %s", bit, error_message());
			}
			blob.buf[bit / 8] ^= (char)(1 << (bit % 8));
			outbad += plain.len != 4 || strcmp(plain.buf, "kept");
		}
		ok(!bad && !outbad, "each of %zu single bit flips fails (version "
		   "byte: ESYNTAX, others: EVERIFY), out untouched", 8 * blob.len);
		is_int(backup_open_blob(&k, 's', "snap/1", 6, blob.buf, blob.len, &plain),
		       0, "the unflipped blob still opens");
		ok(plain.len == 9 && !strcmp(plain.buf, "kepthello"), "to its plaintext");

		bad = 0;
		strbuf_reset(&plain);
		for (size_t len = 0; len < blob.len; len++) {
			int want = len < BACKUP_SEAL_OVERHEAD ? FURROW_ESYNTAX : FURROW_EVERIFY;

			if (backup_open_blob(&k, 's', "snap/1", 6, blob.buf, len, &plain) != want)
				bad++;
		}
		ok(!bad && plain.len == 0, "every truncation fails (short: ESYNTAX, "
		   "else EVERIFY), out untouched");
		strbuf_reset(&b2);
		strbuf_add(&b2, blob.buf, blob.len);
		strbuf_addch(&b2, 0);
		is_int(backup_open_blob(&k, 's', "snap/1", 6, b2.buf, b2.len, &plain),
		       FURROW_EVERIFY, "a byte appended: EVERIFY");
		is_str(error_message(), "backup blob: authentication failed (wrong "
		       "key, or the blob was altered, truncated or stored under "
		       "another name)", "the message");
	}

	strbuf_reset(&plain);
	is_int(backup_open_blob(&k2, 's', "snap/1", 6, blob.buf, blob.len, &plain),
	       FURROW_EVERIFY, "wrong key: EVERIFY");
	is_int(backup_open_blob(&k, 'c', "snap/1", 6, blob.buf, blob.len, &plain),
	       FURROW_EVERIFY, "wrong type: EVERIFY");
	is_int(backup_open_blob(&k, 's', "snap/2", 6, blob.buf, blob.len, &plain),
	       FURROW_EVERIFY, "wrong name: EVERIFY");
	is_int(backup_open_blob(&k, 's', "snap/1x", 7, blob.buf, blob.len, &plain),
	       FURROW_EVERIFY, "longer name: EVERIFY");
	is_int(backup_open_blob(&k, 's', "snap/", 5, blob.buf, blob.len, &plain),
	       FURROW_EVERIFY, "shorter name: EVERIFY");
	is_int(backup_open_blob(&k, 's', NULL, 0, blob.buf, blob.len, &plain),
	       FURROW_EVERIFY, "no name: EVERIFY");
	ok(plain.len == 0 && plain.buf[0] == '\0', "out empty after every refusal");

	blob.buf[0] = 2;
	is_int(backup_open_blob(&k, 's', "snap/1", 6, blob.buf, blob.len, &plain),
	       FURROW_ESYNTAX, "version 2: ESYNTAX");
	tap_diag("%s", error_message());
	blob.buf[0] = 1;
	is_int(backup_open_blob(&k, 's', "snap/1", 6, "", 0, &plain), FURROW_ESYNTAX,
	       "empty blob: ESYNTAX");

	/* Same plaintext twice: different nonces, different blobs. */
	strbuf_reset(&b2);
	backup_seal(&k, 's', "snap/1", 6, "hello", 5, &b2);
	ok(b2.len == blob.len && memcmp(blob.buf + 1, b2.buf + 1, 12) &&
	   memcmp(blob.buf + 13, b2.buf + 13, 5),
	   "two seals of the same plaintext differ in nonce and ciphertext");

	/* A blob from one key opened with a key derived from another. */
	strbuf_reset(&b2);
	backup_seal(&k2, 's', "snap/1", 6, "hello", 5, &b2);
	is_int(backup_open_blob(&k, 's', "snap/1", 6, b2.buf, b2.len, &plain),
	       FURROW_EVERIFY, "sealed under another key: EVERIFY");

	/* The layout in backup_key.h, checked with mbedTLS directly. */
	{
		mbedtls_gcm_context gcm;
		unsigned char aad[8] = { 1, 's' }, out[5];
		int rc;

		memcpy(aad + 2, "snap/1", 6);
		mbedtls_gcm_init(&gcm);
		mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, k.enc_key, 256);
		rc = mbedtls_gcm_auth_decrypt(&gcm, 5, (unsigned char *)blob.buf + 1,
					      12, aad, sizeof(aad),
					      (unsigned char *)blob.buf + 18, 16,
					      (unsigned char *)blob.buf + 13, out);
		mbedtls_gcm_free(&gcm);
		ok(rc == 0 && blob.buf[0] == 1 && !memcmp(out, "hello", 5),
		   "blob is version||nonce||ciphertext||tag under enc_key, aad "
		   "version||type||name (rc %d)", rc);
		is_int(mbedtls_gcm_self_test(0), 0, "mbedTLS AES-GCM self test "
		       "(NIST vectors)");
	}

	strbuf_release(&blob);
	strbuf_release(&plain);
	strbuf_release(&b2);
	free(big);
	backup_key_wipe(&k);
	backup_key_wipe(&k2);
}

/* Both AES-256-GCM paths make and take the same bytes: what libsodium's
 * (AES-NI) seals, mbedTLS's opens, and back; a flipped byte is refused by
 * both. */
static void test_gcm_paths_agree(void)
{
	static const size_t sizes[] = { 0, 1, 16, 17, 65539 };
	struct backup_key k;
	struct strbuf blob = STRBUF_INIT, plain = STRBUF_INIT;
	unsigned char m[32], *data;
	unsigned bad = 0, refused = 0, tries = 0;

	if (!backup_gcm_accelerated()) {
		ok(1, "# SKIP no AES-NI and PCLMUL here: mbedTLS's GCM alone");
		return;
	}
	memset(m, 0x5a, sizeof(m));
	backup_key_derive(&k, m);
	data = malloc(65539);
	for (size_t i = 0; i < 65539; i++)
		data[i] = (unsigned char)(i * 7 + (i >> 8));
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		for (int sealer = 0; sealer < 2; sealer++) {
			size_t n = sizes[s];

			strbuf_reset(&blob);
			strbuf_reset(&plain);
			backup_gcm_force_portable(sealer);
			backup_seal(&k, 'c', "id", 2, data, n, &blob);
			backup_gcm_force_portable(!sealer);
			if (backup_open_blob(&k, 'c', "id", 2, blob.buf,
					     blob.len, &plain) ||
			    plain.len != n || memcmp(plain.buf, data, n))
				bad++;
			/* The last byte of the ciphertext, or of the tag. */
			blob.buf[blob.len - 1 - (n ? 16 : 0)] ^= 0x01;
			for (int opener = 0; opener < 2; opener++) {
				backup_gcm_force_portable(opener);
				strbuf_reset(&plain);
				tries++;
				if (backup_open_blob(&k, 'c', "id", 2, blob.buf,
						     blob.len, &plain) ==
				    FURROW_EVERIFY && plain.len == 0)
					refused++;
			}
		}
	}
	backup_gcm_force_portable(0);
	is_int(bad, 0, "sealed by either GCM, opened by the other: same "
	       "plaintext (0 B - 64 KiB)");
	is_int(refused, tries, "a flipped byte refused by both, nothing "
	       "handed out");
	strbuf_release(&blob);
	strbuf_release(&plain);
	free(data);
	backup_key_wipe(&k);
}

/* Two threads seal and open with one const key at once. */
static const struct backup_key *shared_key;

static void *worker(void *arg)
{
	struct strbuf blob = STRBUF_INIT, plain = STRBUF_INIT;
	char data[1000];
	long fails = 0;

	memset(data, (int)(long)arg, sizeof(data));
	for (int i = 0; i < 300; i++) {
		size_t n = (size_t)i * 3;

		strbuf_reset(&blob);
		strbuf_reset(&plain);
		if (backup_seal(shared_key, 'c', &i, sizeof(i), data, n, &blob) ||
		    backup_open_blob(shared_key, 'c', &i, sizeof(i), blob.buf,
				     blob.len, &plain) || plain.len != n || memcmp(plain.buf, data, n))
			fails++;
	}
	strbuf_release(&blob);
	strbuf_release(&plain);
	return (void *)fails;
}

static void test_threads(void)
{
	struct backup_key k;
	unsigned char m[32];
	pthread_t t[4];
	long total = 0;

	memset(m, 0x42, sizeof(m));
	backup_key_derive(&k, m);
	shared_key = &k;
	for (long i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, worker, (void *)(i + 1));
	for (int i = 0; i < 4; i++) {
		void *r;

		pthread_join(t[i], &r);
		total += (long)r;
	}
	is_int(total, 0, "4 threads x 300 seal/open round trips with one key");
}

int main(void)
{
	test_generate_load();
	test_malformed();
	test_derive();
	test_chunk_id();
	tap_diag("AES-256-GCM: %s", backup_gcm_accelerated() ?
		 "libsodium (AES-NI, PCLMUL)" : "mbedTLS (portable)");
	test_seal_open();
	/* The same again on mbedTLS's GCM, when the first run was not. */
	if (backup_gcm_accelerated()) {
		backup_gcm_force_portable(1);
		test_seal_open();
		backup_gcm_force_portable(0);
	}
	test_gcm_paths_agree();
	test_threads();
	return tap_done();
}
