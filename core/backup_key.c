/*
 * backup_key.c - see backup_key.h.
 *
 * The cryptography: HMAC-SHA-256 (sha256.h), AES-256-GCM from libsodium
 * when the CPU has AES-NI and PCLMUL (several blocks at a time), else
 * mbedTLS's (mbedtls_gcm_*, one GHASH block at a time): the same
 * construction, so the same bytes either way.  What is written here is
 * the file format,
 * the blob layout and the care around them: bounded reads, wiping
 * secrets, and never handing out plaintext that failed authentication.
 */
#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/aes.h>
#include <mbedtls/gcm.h>
#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>
#include <sodium.h>

#include "backup_key.h"
#include "bug.h"
#include "error.h"
#include "fileutil.h"
#include "strbuf.h"
#include "banned.h"

#define HEX_LEN   (2 * BACKUP_KEY_BYTES)
#define LINE_LEN  (sizeof(BACKUP_KEY_HEADER) - 1 + 1 + HEX_LEN) /* no "\n" */

#define LABEL_ID    "furrow backup v1 chunk-id"
#define LABEL_ENC   "furrow backup v1 encrypt"
#define LABEL_GEAR  "furrow backup v1 gear-seed"
#define LABEL_CHECK "furrow backup v1 check"

/* hmac_sha256(): sha256.h (SHA-NI when the CPU has it). */

/*
 * mbedTLS builds its AES tables, and probes for AES-NI, on first use,
 * with plain unsynchronised globals.  Do that first use once, under
 * pthread_once, so that concurrent seals and opens never race on it.
 */
static pthread_once_t aes_once = PTHREAD_ONCE_INIT;

static void aes_warm_up(void)
{
	static const unsigned char key[32];
	unsigned char block[16] = { 0 };
	mbedtls_aes_context aes;

	mbedtls_aes_init(&aes);
	if (mbedtls_aes_setkey_enc(&aes, key, 256) != 0 ||
	    mbedtls_aes_crypt_ecb(&aes, MBEDTLS_AES_ENCRYPT, block, block) != 0)
		BUG("AES-256 self-initialisation failed");
	mbedtls_aes_free(&aes);
}

static int fill_random(void *buf, size_t len)
{
	unsigned char *p = buf;

	/* Flags 0: wait for the kernel's pool to be initialised rather than
	 * take weak bytes early in boot. */
	while (len) {
		ssize_t n = getrandom(p, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * A fresh GCM nonce: a random 64-bit prefix per thread and process, then
 * a 32-bit counter.  A getrandom() per chunk cost more than the chunk's
 * encryption; uniqueness only needs the prefix never to repeat under one
 * key with a counter that never wraps (a new prefix is drawn first), and
 * the pid check gives a forked child its own prefix.
 */
static __thread unsigned char nonce_prefix[8];
static __thread uint32_t nonce_count;
static __thread pid_t nonce_pid;

static int next_nonce(unsigned char out[BACKUP_GCM_NONCE_BYTES])
{
	pid_t pid = getpid();

	if (nonce_pid != pid || nonce_count == UINT32_MAX) {
		if (fill_random(nonce_prefix, sizeof(nonce_prefix)) < 0)
			return -1;
		nonce_count = 0;
		nonce_pid = pid;
	}
	memcpy(out, nonce_prefix, sizeof(nonce_prefix));
	out[8] = (unsigned char)(nonce_count >> 24);
	out[9] = (unsigned char)(nonce_count >> 16);
	out[10] = (unsigned char)(nonce_count >> 8);
	out[11] = (unsigned char)nonce_count;
	nonce_count++;
	return 0;
}

void backup_hex(const unsigned char *bin, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[bin[i] >> 4];
		out[2 * i + 1] = digits[bin[i] & 15];
	}
	out[2 * n] = '\0';
}

static int lower_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

void backup_key_derive(struct backup_key *k,
		       const unsigned char master[BACKUP_KEY_BYTES])
{
	hmac_sha256(master, BACKUP_KEY_BYTES, LABEL_ID, strlen(LABEL_ID),
		    k->id_key);
	hmac_sha256(master, BACKUP_KEY_BYTES, LABEL_ENC, strlen(LABEL_ENC),
		    k->enc_key);
	hmac_sha256(master, BACKUP_KEY_BYTES, LABEL_GEAR, strlen(LABEL_GEAR),
		    k->gear_seed);
	hmac_sha256(master, BACKUP_KEY_BYTES, LABEL_CHECK, strlen(LABEL_CHECK),
		    k->check);
	/* Zeroed first: the prepared state holds buffer bytes the hash
	 * never writes, and keys are compared whole. */
	memset(&k->id_mac, 0, sizeof(k->id_mac));
	hmac_sha256_key_init(&k->id_mac, k->id_key, sizeof(k->id_key));
}

void backup_key_wipe(struct backup_key *k)
{
	if (k)
		mbedtls_platform_zeroize(k, sizeof(*k));
}

/* Parse the key file's bytes into master.  Messages name the file and
 * what is wrong, never a byte of the content. */
static int parse_key_file(const char *path, const char *buf, size_t len,
			  unsigned char master[BACKUP_KEY_BYTES])
{
	const size_t hlen = sizeof(BACKUP_KEY_HEADER) - 1;
	const char *hex;

	if (len < hlen + 1 || memcmp(buf, BACKUP_KEY_HEADER " ", hlen + 1) != 0)
		return error_set(FURROW_ESYNTAX, "%s: not a furrow backup key "
				 "file (it must start with \"%s \")", path,
				 BACKUP_KEY_HEADER);
	hex = buf + hlen + 1;
	for (size_t i = 0; i < HEX_LEN; i++) {
		int hi, lo;

		if (hlen + 1 + i >= len || lower_hex_digit(hex[i]) < 0)
			return error_set(FURROW_ESYNTAX, "%s: the key must be "
					 "%d lowercase hex digits after \"%s \"",
					 path, HEX_LEN, BACKUP_KEY_HEADER);
		if (i % 2) {
			hi = lower_hex_digit(hex[i - 1]);
			lo = lower_hex_digit(hex[i]);
			master[i / 2] = (unsigned char)(hi << 4 | lo);
		}
	}
	if (len == LINE_LEN || (len == LINE_LEN + 1 && buf[LINE_LEN] == '\n'))
		return 0;
	return error_set(FURROW_ESYNTAX, "%s: unexpected data after the key "
			 "(the file must hold exactly one line: \"%s <%d hex "
			 "digits>\")", path, BACKUP_KEY_HEADER, HEX_LEN);
}

int backup_key_load(struct backup_key *k, const char *path)
{
	char buf[BACKUP_KEY_FILE_BYTES + 1];
	unsigned char master[BACKUP_KEY_BYTES];
	size_t len = 0;
	struct stat st;
	int fd, ret = 0;

	memset(k, 0, sizeof(*k));
	/* O_NONBLOCK: a FIFO planted at the path must not hang us. */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return error_errno(errno == ENOENT ? FURROW_ENOENT : FURROW_EIO,
				   "cannot open backup key file %s", path);
	if (fstat(fd, &st) < 0) {
		ret = error_errno(FURROW_EIO, "cannot stat %s", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = error_set(FURROW_EINVAL, "backup key file %s is not a "
				"regular file", path);
		goto out;
	}
	if (st.st_mode & 077) {
		ret = error_set(FURROW_EINVAL, "backup key file %s can be "
				"accessed by group or others (mode %04o); "
				"chmod 600 %s", path,
				(unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	while (len < sizeof(buf)) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = error_errno(FURROW_EIO, "cannot read %s", path);
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > BACKUP_KEY_FILE_BYTES) {
		ret = error_set(FURROW_ELIMIT, "backup key file %s: larger than "
				"the limit of %u bytes", path,
				BACKUP_KEY_FILE_BYTES);
		goto out;
	}
	ret = parse_key_file(path, buf, len, master);
	if (!ret)
		backup_key_derive(k, master);
out:
	close(fd);
	mbedtls_platform_zeroize(master, sizeof(master));
	mbedtls_platform_zeroize(buf, sizeof(buf));
	if (ret)
		backup_key_wipe(k);
	return ret;
}

int backup_key_generate(const char *path)
{
	unsigned char master[BACKUP_KEY_BYTES];
	char line[LINE_LEN + 2];
	int fd = -1, created = 0, ret = 0;
	const size_t hlen = sizeof(BACKUP_KEY_HEADER) - 1;

	if (fill_random(master, sizeof(master)) < 0)
		return error_errno(FURROW_EIO, "cannot get random bytes for a "
				   "backup key");
	memcpy(line, BACKUP_KEY_HEADER " ", hlen + 1);
	backup_hex(master, sizeof(master), line + hlen + 1);
	line[LINE_LEN] = '\n';
	line[LINE_LEN + 1] = '\0';

	/* O_EXCL: never replace a key (data sealed under it would be lost),
	 * and never follow a symbolic link planted at the path. */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	if (fd < 0) {
		if (errno == EEXIST)
			ret = error_set(FURROW_EINVAL, "backup key file %s "
					"exists; furrow never overwrites a key "
					"(move it away first)", path);
		else
			ret = error_errno(FURROW_EIO, "cannot create backup "
					  "key file %s", path);
		goto out;
	}
	created = 1;
	/* 0600 exactly, whatever the umask. */
	if (fchmod(fd, 0600) < 0 || file_write_all(fd, line, LINE_LEN + 1) < 0 ||
	    fsync(fd) < 0) {
		ret = error_errno(FURROW_EIO, "cannot write backup key file %s",
				  path);
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		ret = error_errno(FURROW_EIO, "cannot write backup key file %s",
				  path);
		goto out;
	}
	fd = -1;
	ret = file_sync_dir_of(path);
out:
	if (fd >= 0)
		close(fd);
	if (ret && created)
		unlink(path);
	mbedtls_platform_zeroize(master, sizeof(master));
	mbedtls_platform_zeroize(line, sizeof(line));
	return ret;
}

void backup_chunk_id(const struct backup_key *k, const void *data, size_t len,
		     unsigned char id[BACKUP_ID_BYTES])
{
	hmac_sha256_with(&k->id_mac, data, len, id);
}

/* The additional data: version || type || name.  Free with free(). */
static unsigned char *make_aad(unsigned char type, const void *name,
			       size_t namelen, size_t *aadlen)
{
	unsigned char *aad;

	if (namelen > (size_t)-1 - 2)
		BUG("backup blob name length overflow");
	aad = xmalloc(namelen + 2);
	aad[0] = BACKUP_BLOB_VERSION;
	aad[1] = type;
	if (namelen)
		memcpy(aad + 2, name, namelen);
	*aadlen = namelen + 2;
	return aad;
}

/* libsodium's AES-256-GCM, decided once: sodium_init() finds the CPU's
 * features.  4-8 times mbedTLS 2.28's speed here, where GCM was the
 * largest single cost of a snapshot. */
static pthread_once_t fast_once = PTHREAD_ONCE_INIT;
static int fast_gcm, force_portable;

static void fast_probe(void)
{
	fast_gcm = sodium_init() >= 0 && crypto_aead_aes256gcm_is_available();
}

int backup_gcm_accelerated(void)
{
	pthread_once(&fast_once, fast_probe);
	return fast_gcm && !__atomic_load_n(&force_portable, __ATOMIC_RELAXED);
}

void backup_gcm_force_portable(int on)
{
	__atomic_store_n(&force_portable, on, __ATOMIC_RELAXED);
}

static void gcm_setup(mbedtls_gcm_context *gcm, const struct backup_key *k)
{
	pthread_once(&aes_once, aes_warm_up);
	mbedtls_gcm_init(gcm);
	if (mbedtls_gcm_setkey(gcm, MBEDTLS_CIPHER_ID_AES, k->enc_key,
			       8 * sizeof(k->enc_key)) != 0)
		BUG("AES-256-GCM key setup failed");
}

int backup_seal(const struct backup_key *k, unsigned char type,
		const void *name, size_t namelen, const void *plain, size_t len,
		struct strbuf *out)
{
	mbedtls_gcm_context gcm;
	unsigned char *aad, *blob;
	size_t aadlen, old = out->len;
	int rc;

	/* GCM's own bound (2^36 - 32 bytes); checked first so that a huge
	 * len never reaches strbuf_grow. */
	if ((unsigned long long)len > (1ull << 36) - 32)
		return error_set(FURROW_EINVAL, "backup seal: %zu bytes is more "
				 "than AES-GCM can encrypt at once", len);
	strbuf_grow(out, len + BACKUP_SEAL_OVERHEAD);
	blob = (unsigned char *)out->buf + old;
	blob[0] = BACKUP_BLOB_VERSION;
	if (next_nonce(blob + 1) < 0) {
		strbuf_setlen(out, old); /* the NUL at out->len again */
		return error_errno(FURROW_EIO, "backup seal: cannot get a "
				   "random nonce");
	}
	aad = make_aad(type, name, namelen, &aadlen);
	if (backup_gcm_accelerated()) {
		rc = crypto_aead_aes256gcm_encrypt_detached(
			blob + 1 + BACKUP_GCM_NONCE_BYTES,
			blob + 1 + BACKUP_GCM_NONCE_BYTES + len, NULL, plain,
			len, aad, aadlen, NULL, blob + 1, k->enc_key);
	} else {
		gcm_setup(&gcm, k);
		rc = mbedtls_gcm_crypt_and_tag(&gcm, MBEDTLS_GCM_ENCRYPT, len,
					       blob + 1, BACKUP_GCM_NONCE_BYTES,
					       aad, aadlen, plain,
					       blob + 1 + BACKUP_GCM_NONCE_BYTES,
					       BACKUP_GCM_TAG_BYTES,
					       blob + 1 +
					       BACKUP_GCM_NONCE_BYTES + len);
		mbedtls_gcm_free(&gcm);
	}
	free(aad);
	if (rc != 0)
		BUG("AES-256-GCM encryption failed (%d)", rc);
	strbuf_setlen(out, old + len + BACKUP_SEAL_OVERHEAD);
	return 0;
}

int backup_open_blob(const struct backup_key *k, unsigned char type,
		     const void *name, size_t namelen, const void *blob,
		     size_t bloblen, struct strbuf *out)
{
	const unsigned char *b = blob;
	mbedtls_gcm_context gcm;
	unsigned char *aad;
	size_t aadlen, len, old = out->len;
	int rc;

	if (bloblen < BACKUP_SEAL_OVERHEAD)
		return error_set(FURROW_ESYNTAX, "backup blob: %zu bytes, "
				 "shorter than the %d bytes of version, nonce "
				 "and tag", bloblen, BACKUP_SEAL_OVERHEAD);
	if (b[0] != BACKUP_BLOB_VERSION)
		return error_set(FURROW_ESYNTAX, "backup blob: unknown version "
				 "%u (this furrow reads version %d)", b[0],
				 BACKUP_BLOB_VERSION);
	len = bloblen - BACKUP_SEAL_OVERHEAD;
	strbuf_grow(out, len);
	aad = make_aad(type, name, namelen, &aadlen);
	/* Decrypts into out's spare room and checks the tag in constant
	 * time; what a failed check leaves there is zeroed below. */
	if ((unsigned long long)len > (1ull << 36) - 32) {
		/* Past GCM's bound (libsodium would abort): see below. */
		rc = -1;
	} else if (backup_gcm_accelerated()) {
		rc = crypto_aead_aes256gcm_decrypt_detached(
			(unsigned char *)out->buf + old, NULL,
			b + 1 + BACKUP_GCM_NONCE_BYTES, len,
			b + 1 + BACKUP_GCM_NONCE_BYTES + len, aad, aadlen,
			b + 1, k->enc_key) ? MBEDTLS_ERR_GCM_AUTH_FAILED : 0;
	} else {
		gcm_setup(&gcm, k);
		rc = mbedtls_gcm_auth_decrypt(&gcm, len, b + 1,
					      BACKUP_GCM_NONCE_BYTES, aad,
					      aadlen,
					      b + 1 + BACKUP_GCM_NONCE_BYTES +
					      len, BACKUP_GCM_TAG_BYTES,
					      b + 1 + BACKUP_GCM_NONCE_BYTES,
					      (unsigned char *)out->buf + old);
		mbedtls_gcm_free(&gcm);
	}
	free(aad);
	if (rc == MBEDTLS_ERR_GCM_AUTH_FAILED) {
		mbedtls_platform_zeroize(out->buf + old, len);
		strbuf_setlen(out, old);
		return error_set(FURROW_EVERIFY, "backup blob: authentication "
				 "failed (wrong key, or the blob was altered, "
				 "truncated or stored under another name)");
	}
	if (rc != 0) {
		/* Only a length beyond GCM's bound: not a blob we sealed. */
		mbedtls_platform_zeroize(out->buf + old, len);
		strbuf_setlen(out, old);
		return error_set(FURROW_EVERIFY, "backup blob: authentication "
				 "failed (%zu bytes is more than a sealed blob "
				 "can hold)", bloblen);
	}
	strbuf_setlen(out, old + len);
	return 0;
}
