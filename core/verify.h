/*
 * verify.h - signature checks (mbedTLS, libsodium).
 *
 * core/verify.c is the only file that includes mbedTLS and libsodium.
 * It verifies OpenSSH signatures (PROTOCOL.sshsig, as made by
 * `ssh-keygen -Y sign` and by `git commit -S` with gpg.format=ssh)
 * against the host's allowed_signers trust, with the same verdicts as
 * `ssh-keygen -Y verify` and `git verify-commit`, except that furrow
 * refuses more: RSA keys under LIMIT_RSA_MIN_BITS, ssh-rsa (SHA-1)
 * signatures, security keys, certificates and DSA.
 *
 * Supported: ssh-ed25519 (libsodium), ecdsa-sha2-nistp256/384/521 and
 * RSA with rsa-sha2-256/512 (mbedTLS).
 */
#ifndef FURROW_VERIFY_H
#define FURROW_VERIFY_H

#include <stddef.h>
#include <time.h>

#include "allowed_signers.h"

/* "2.28.3", from the linked mbedTLS at run time. */
const char *verify_mbedtls_version(void);
/* "1.0.18", from the linked libsodium at run time. */
const char *verify_sodium_version(void);

/*
 * SHA-256 of len bytes at data, as 64 lowercase hex digits and a NUL: the
 * content hash that names a policy in decisions and the audit trail.
 */
void verify_sha256_hex(char out[65], const void *data, size_t len);

/*
 * The same for everything readable from fd, read to its end (the file
 * position moves): the content hash of a staged file (core/slots.c).
 * Returns 0, or FURROW_EIO with a message naming name.
 */
int verify_sha256_fd_hex(char out[65], int fd, const char *name);

/* Who signed, filled in by a successful verify_sshsig()/verify_commit(). */
struct verify_result {
	char *principal;       /* matching entry's principals, as written */
	char key_type[32];     /* "ssh-ed25519", "ssh-rsa", ... */
	char fingerprint[64];  /* "SHA256:" + unpadded base64, as OpenSSH */
	char sig_type[32];     /* signature algorithm, e.g. "rsa-sha2-512" */
	unsigned line;         /* the entry's line in the trust file */
};

/* Free what a result holds and zero it; safe on a zeroed result. */
void verify_result_release(struct verify_result *res);

/*
 * Check an armored SSH signature (alen bytes) over msg (len bytes):
 * 0 if a key listed in trust made a valid signature over msg in
 * namespace, allowed for that namespace and valid at time now.  On
 * success *out is filled (release it with verify_result_release()); on
 * failure it is zeroed and the return is FURROW_EVERIFY with a message
 * saying which check failed: bad armor, namespace mismatch, unsupported
 * key or signature type, key not in the trust file, key not allowed for
 * the namespace, key expired or not yet valid, RSA key too small,
 * signature invalid.  Messages name the key by fingerprint.
 */
int verify_sshsig(struct verify_result *out,
		  const struct allowed_signers *trust, const char *namespace,
		  const void *msg, size_t len, const char *armored,
		  size_t alen, time_t now);

/*
 * Check a raw commit object (the bytes of `git cat-file commit`) as
 * `git verify-commit` does, namespace "git", trust checked at time now
 * (git itself uses the committer time; callers that want that pass
 * commitsig_committer_time()).  Returns as verify_sshsig(), and
 * FURROW_EVERIFY "commit is not signed" for an unsigned commit.
 */
int verify_commit(struct verify_result *out,
		  const struct allowed_signers *trust, const char *raw_commit,
		  size_t len, time_t now);

#endif
