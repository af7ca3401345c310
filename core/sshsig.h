/*
 * sshsig.h - OpenSSH signature objects (PROTOCOL.sshsig) and public key
 * blobs, decoded without any cryptography: core/verify.c does the maths.
 *
 * Only what furrow can verify decodes: Ed25519, ECDSA on NIST P-256/384/
 * 521 and RSA.  Security-key (sk-*), certificate (*-cert-v01@openssh.com)
 * and DSA keys fail with a message that names the type and says it is
 * not supported.
 */
#ifndef FURROW_SSHSIG_H
#define FURROW_SSHSIG_H

#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

enum sshkey_kind {
	SSHKEY_ED25519,
	SSHKEY_ECDSA_P256,
	SSHKEY_ECDSA_P384,
	SSHKEY_ECDSA_P521,
	SSHKEY_RSA,
};

/* A decoded public key; pointers point into the blob it came from. */
struct sshkey_pub {
	enum sshkey_kind kind;
	const char *type;      /* static: "ssh-ed25519", "ssh-rsa", ... */
	const unsigned char *a; /* Ed25519 key (32) | EC point | RSA e */
	size_t a_len;
	const unsigned char *n; /* RSA modulus, magnitude; NULL otherwise */
	size_t n_len;
	unsigned bits;          /* RSA modulus bits; curve bits for ECDSA */
};

/*
 * Decode a public key blob (string type, then the type's fields, nothing
 * after).  Returns 0, FURROW_EINVAL for a type furrow does not support
 * (message names it and why), or FURROW_ESYNTAX/FURROW_ELIMIT for a
 * malformed or oversized blob.  out points into blob afterwards.
 */
int sshkey_pub_parse(struct sshkey_pub *out, const void *blob, size_t len);

/*
 * Check a key type name as written in allowed_signers or a blob: 0 if
 * furrow supports it, FURROW_EINVAL with the reason otherwise.
 */
int sshkey_type_check(const char *type, size_t len);

#define SSHSIG_ARMOR_BEGIN "-----BEGIN SSH SIGNATURE-----"
#define SSHSIG_ARMOR_END   "-----END SSH SIGNATURE-----"

struct sshsig {
	struct strbuf blob;           /* the decoded signature object */
	uint32_t version;             /* always 1 */
	const unsigned char *pubkey;  /* public key blob, inside blob */
	size_t pubkey_len;
	char *namespace;              /* NUL-free, NUL-terminated */
	char *hashalg;                /* "sha256" or "sha512" */
	const unsigned char *sig;     /* signature blob, inside blob */
	size_t sig_len;
};

/*
 * Decode an armored signature, as `ssh-keygen -Y sign` writes it and git
 * stores it in a gpgsig header: the BEGIN line with "\n", base64 lines
 * separated by "\n", "\n" and the END line; anything after the END line
 * is ignored, as OpenSSH does.  *out is the caller's, freed with
 * sshsig_free().  Returns 0 or FURROW_ESYNTAX/FURROW_ELIMIT with a
 * message saying what is wrong.
 */
int sshsig_parse(struct sshsig **out, const char *armored, size_t len);

/* Decode the binary signature object (what the armor wraps). */
int sshsig_parse_blob(struct sshsig **out, const void *blob, size_t len);

void sshsig_free(struct sshsig *sig);

/*
 * Append the bytes a SSHSIG signature signs: "SSHSIG", namespace, an
 * empty reserved string, hash algorithm name and the message digest.
 */
void sshsig_signed_data(struct strbuf *out, const char *namespace,
			const char *hashalg, const void *digest, size_t dlen);

#endif
