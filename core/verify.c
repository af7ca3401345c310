/*
 * verify.c - see verify.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/bignum.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/md.h>
#include <mbedtls/rsa.h>
#include <mbedtls/sha256.h>
#include <mbedtls/sha512.h>
#include <mbedtls/version.h>
#include <sodium.h>

#include "allowed_signers.h"
#include "bug.h"
#include "commitsig.h"
#include "error.h"
#include "limits.h"
#include "sshsig.h"
#include "sshwire.h"
#include "strbuf.h"
#include "verify.h"
#include "banned.h"

const char *verify_mbedtls_version(void)
{
	static char buf[18]; /* the size mbedTLS documents */

	if (!buf[0])
		mbedtls_version_get_string(buf);
	return buf;
}

const char *verify_sodium_version(void)
{
	return sodium_version_string();
}

void verify_sha256_hex(char out[65], const void *data, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[32];
	int rc;

	rc = mbedtls_sha256_ret(data, len, md, 0);
	if (rc)
		BUG("mbedTLS sha256 failed: %d", rc);
	for (size_t i = 0; i < sizeof(md); i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
}

int verify_sha256_fd_hex(char out[65], int fd, const char *name)
{
	static const char hex[] = "0123456789abcdef";
	mbedtls_sha256_context ctx;
	unsigned char buf[16384], md[32];
	int rc, ret = 0;

	mbedtls_sha256_init(&ctx);
	rc = mbedtls_sha256_starts_ret(&ctx, 0);
	for (;;) {
		ssize_t n;

		if (rc)
			BUG("mbedTLS sha256 failed: %d", rc);
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = error_errno(FURROW_EIO, "cannot read %s", name);
			goto out;
		}
		if (n == 0)
			break;
		rc = mbedtls_sha256_update_ret(&ctx, buf, (size_t)n);
	}
	rc = mbedtls_sha256_finish_ret(&ctx, md);
	if (rc)
		BUG("mbedTLS sha256 failed: %d", rc);
	for (size_t i = 0; i < sizeof(md); i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
out:
	mbedtls_sha256_free(&ctx);
	return ret;
}

void verify_result_release(struct verify_result *res)
{
	if (!res)
		return;
	free(res->principal);
	memset(res, 0, sizeof(*res));
}

/* Digest of data with "sha256", "sha384" or "sha512"; returns its size. */
static size_t digest(unsigned char out[64], const char *alg, const void *data,
		     size_t len)
{
	int rc;

	if (strcmp(alg, "sha256") == 0) {
		rc = mbedtls_sha256_ret(data, len, out, 0);
		len = 32;
	} else if (strcmp(alg, "sha384") == 0) {
		rc = mbedtls_sha512_ret(data, len, out, 1);
		len = 48;
	} else if (strcmp(alg, "sha512") == 0) {
		rc = mbedtls_sha512_ret(data, len, out, 0);
		len = 64;
	} else {
		BUG("digest: unknown algorithm %s", alg);
	}
	if (rc != 0)
		BUG("mbedTLS %s failed: %d", alg, rc);
	return len;
}

static void fingerprint(char *out, size_t size, const void *blob, size_t len)
{
	struct strbuf sb = STRBUF_INIT;
	unsigned char h[64];

	strbuf_addstr(&sb, "SHA256:");
	sshwire_base64_encode(&sb, h, digest(h, "sha256", blob, len), 0);
	if (sb.len >= size)
		BUG("fingerprint buffer too small");
	memcpy(out, sb.buf, sb.len + 1);
	strbuf_release(&sb);
}

/* Keep the recorded message, change its code. */
static int recode(int code)
{
	char msg[FURROW_ERROR_MAX];

	snprintf(msg, sizeof(msg), "%s", error_message());
	return error_set(code, "%s", msg);
}

static int bad_signature(const char *why)
{
	return error_set(FURROW_EVERIFY, "signature invalid: %s", why);
}

static int verify_ed25519(const struct sshkey_pub *key,
			  const unsigned char *sig, size_t sig_len,
			  const struct strbuf *data)
{
	if (sig_len != crypto_sign_ed25519_BYTES)
		return bad_signature("Ed25519 signature has the wrong size");
	if (sodium_init() < 0)
		BUG("libsodium failed to initialise");
	if (crypto_sign_ed25519_verify_detached(sig,
			(const unsigned char *)data->buf, data->len,
			key->a) != 0)
		return bad_signature("Ed25519 verification failed");
	return 0;
}

static int verify_ecdsa(const struct sshkey_pub *key,
			const unsigned char *sig, size_t sig_len,
			const struct strbuf *data)
{
	const unsigned char *r, *s;
	mbedtls_ecp_group_id gid;
	mbedtls_ecp_group grp;
	mbedtls_ecp_point q;
	mbedtls_mpi mr, ms;
	unsigned char h[64];
	struct sshwire w;
	const char *hash;
	size_t rlen, slen, hlen;
	int rc;

	switch (key->kind) {
	case SSHKEY_ECDSA_P256:
		gid = MBEDTLS_ECP_DP_SECP256R1;
		hash = "sha256";
		break;
	case SSHKEY_ECDSA_P384:
		gid = MBEDTLS_ECP_DP_SECP384R1;
		hash = "sha384";
		break;
	case SSHKEY_ECDSA_P521:
		gid = MBEDTLS_ECP_DP_SECP521R1;
		hash = "sha512";
		break;
	default:
		BUG("verify_ecdsa: not an ECDSA key");
	}
	/* The signature is string(mpint r || mpint s), nothing after. */
	sshwire_init(&w, sig, sig_len);
	if (sshwire_mpint(&w, &r, &rlen) < 0 ||
	    sshwire_mpint(&w, &s, &slen) < 0 || sshwire_end(&w) < 0)
		return bad_signature("malformed ECDSA signature");
	hlen = digest(h, hash, data->buf, data->len);

	mbedtls_ecp_group_init(&grp);
	mbedtls_ecp_point_init(&q);
	mbedtls_mpi_init(&mr);
	mbedtls_mpi_init(&ms);
	rc = FURROW_EVERIFY;
	if (mbedtls_ecp_group_load(&grp, gid) != 0)
		BUG("mbedTLS lacks curve %s", key->type);
	if (mbedtls_ecp_point_read_binary(&grp, &q, key->a, key->a_len) != 0 ||
	    mbedtls_ecp_check_pubkey(&grp, &q) != 0) {
		error_set(rc, "invalid public key: ECDSA point is not on the "
			  "curve");
		goto out;
	}
	if (mbedtls_mpi_read_binary(&mr, r, rlen) != 0 ||
	    mbedtls_mpi_read_binary(&ms, s, slen) != 0) {
		bad_signature("malformed ECDSA signature");
		goto out;
	}
	if (mbedtls_ecdsa_verify(&grp, h, hlen, &q, &mr, &ms) != 0) {
		bad_signature("ECDSA verification failed");
		goto out;
	}
	rc = 0;
out:
	mbedtls_mpi_free(&mr);
	mbedtls_mpi_free(&ms);
	mbedtls_ecp_point_free(&q);
	mbedtls_ecp_group_free(&grp);
	return rc;
}

static int verify_rsa(const struct sshkey_pub *key, const char *sig_type,
		      const unsigned char *sig, size_t sig_len,
		      const struct strbuf *data)
{
	mbedtls_rsa_context rsa;
	unsigned char h[64], *padded = NULL;
	mbedtls_md_type_t md;
	const char *hash;
	size_t hlen, modlen;
	int rc = FURROW_EVERIFY;

	if (strcmp(sig_type, "rsa-sha2-256") == 0) {
		md = MBEDTLS_MD_SHA256;
		hash = "sha256";
	} else if (strcmp(sig_type, "rsa-sha2-512") == 0) {
		md = MBEDTLS_MD_SHA512;
		hash = "sha512";
	} else {
		BUG("verify_rsa: unchecked signature type %s", sig_type);
	}
	if (key->bits < LIMIT_RSA_MIN_BITS)
		return error_set(FURROW_EVERIFY, "RSA key of %u bits is too "
				 "small (at least %u bits are required)",
				 key->bits, LIMIT_RSA_MIN_BITS);
	if (key->bits > MBEDTLS_MPI_MAX_BITS)
		return error_set(FURROW_EVERIFY, "RSA keys over %d bits are "
				 "not supported (this key has %u)",
				 MBEDTLS_MPI_MAX_BITS, key->bits);
	hlen = digest(h, hash, data->buf, data->len);

	mbedtls_rsa_init(&rsa, MBEDTLS_RSA_PKCS_V15, 0);
	if (mbedtls_rsa_import_raw(&rsa, key->n, key->n_len, NULL, 0, NULL, 0,
				   NULL, 0, key->a, key->a_len) != 0 ||
	    mbedtls_rsa_complete(&rsa) != 0 ||
	    mbedtls_rsa_check_pubkey(&rsa) != 0) {
		error_set(rc, "invalid public key: unusable RSA parameters");
		goto out;
	}
	modlen = mbedtls_rsa_get_len(&rsa);
	/* OpenSSH accepts signatures shorter than the modulus and pads
	 * them with leading zeros; do the same. */
	if (sig_len > modlen || sig_len == 0) {
		bad_signature("RSA signature has the wrong size");
		goto out;
	}
	padded = xcalloc(1, modlen);
	memcpy(padded + modlen - sig_len, sig, sig_len);
	if (mbedtls_rsa_pkcs1_verify(&rsa, NULL, NULL, MBEDTLS_RSA_PUBLIC, md,
				     (unsigned int)hlen, h, padded) != 0) {
		bad_signature("RSA verification failed");
		goto out;
	}
	rc = 0;
out:
	free(padded);
	mbedtls_rsa_free(&rsa);
	return rc;
}

/* Check the signature blob's algorithm against the key, then verify. */
static int verify_blob(const struct sshkey_pub *key, const struct sshsig *sig,
		       const struct strbuf *data, char *sig_type,
		       size_t type_size)
{
	const unsigned char *bytes;
	struct sshwire w;
	size_t n;
	char *alg = NULL;
	int rc;

	sshwire_init(&w, sig->sig, sig->sig_len);
	if (sshwire_cstring(&w, &alg, 64) < 0 ||
	    sshwire_string(&w, &bytes, &n) < 0 || sshwire_end(&w) < 0) {
		rc = bad_signature("malformed signature blob");
		goto out;
	}
	if (key->kind == SSHKEY_RSA) {
		if (strcmp(alg, "ssh-rsa") == 0) {
			rc = error_set(FURROW_EVERIFY, "unsupported signature "
				       "algorithm ssh-rsa (RSA signatures with "
				       "SHA-1 are not supported)");
			goto out;
		}
		if (strcmp(alg, "rsa-sha2-256") != 0 &&
		    strcmp(alg, "rsa-sha2-512") != 0) {
			rc = bad_signature("unknown RSA signature algorithm");
			goto out;
		}
	} else if (strcmp(alg, key->type) != 0) {
		rc = bad_signature("signature algorithm does not match the "
				   "key type");
		goto out;
	}
	snprintf(sig_type, type_size, "%s", alg);
	switch (key->kind) {
	case SSHKEY_ED25519:
		rc = verify_ed25519(key, bytes, n, data);
		break;
	case SSHKEY_ECDSA_P256:
	case SSHKEY_ECDSA_P384:
	case SSHKEY_ECDSA_P521:
		rc = verify_ecdsa(key, bytes, n, data);
		break;
	case SSHKEY_RSA:
		rc = verify_rsa(key, alg, bytes, n, data);
		break;
	default:
		BUG("verify_blob: key kind %d", (int)key->kind);
	}
out:
	free(alg);
	return rc;
}

int verify_sshsig(struct verify_result *out,
		  const struct allowed_signers *trust, const char *namespace,
		  const void *msg, size_t len, const char *armored,
		  size_t alen, time_t now)
{
	const struct allowed_signer *entry;
	struct strbuf data = STRBUF_INIT;
	struct sshsig *sig = NULL;
	struct sshkey_pub key;
	unsigned char h[64];
	char fp[64];
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = sshsig_parse(&sig, armored, alen)) < 0) {
		rc = error_prefix(FURROW_EVERIFY, "cannot read signature");
		goto out;
	}
	if ((rc = sshkey_pub_parse(&key, sig->pubkey, sig->pubkey_len)) < 0) {
		/* "unsupported key type ..." stands on its own. */
		rc = rc == FURROW_EINVAL ? recode(FURROW_EVERIFY) :
			error_prefix(FURROW_EVERIFY, "cannot read signature");
		goto out;
	}
	fingerprint(fp, sizeof(fp), sig->pubkey, sig->pubkey_len);
	if (strcmp(sig->namespace, namespace) != 0) {
		rc = error_set(FURROW_EVERIFY, "signature by %s is for "
			       "namespace \"%s\", not \"%s\"", fp,
			       sig->namespace, namespace);
		goto out;
	}
	if ((rc = allowed_signers_find(&entry, trust, sig->pubkey,
				       sig->pubkey_len, namespace, now)) < 0) {
		rc = error_prefix(FURROW_EVERIFY, "%s key %s", key.type, fp);
		goto out;
	}
	/* What the signer signed: the SSHSIG preamble and H(msg). */
	sshsig_signed_data(&data, namespace, sig->hashalg, h,
			   digest(h, sig->hashalg, msg, len));
	if ((rc = verify_blob(&key, sig, &data, out->sig_type,
			      sizeof(out->sig_type))) < 0) {
		rc = error_prefix(FURROW_EVERIFY, "%s key %s (%s:%u)",
				  key.type, fp, trust->name, entry->line);
		goto out;
	}
	out->principal = xstrdup(entry->principals);
	snprintf(out->key_type, sizeof(out->key_type), "%s", key.type);
	memcpy(out->fingerprint, fp, sizeof(out->fingerprint));
	out->line = entry->line;
	rc = 0;
out:
	if (rc < 0)
		verify_result_release(out);
	sshsig_free(sig);
	strbuf_release(&data);
	return rc;
}

int verify_commit(struct verify_result *out,
		  const struct allowed_signers *trust, const char *raw_commit,
		  size_t len, time_t now)
{
	struct strbuf payload = STRBUF_INIT, signature = STRBUF_INIT;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = commitsig_split(&payload, &signature, raw_commit, len)) < 0) {
		rc = recode(FURROW_EVERIFY);
		goto out;
	}
	if (strncmp(signature.buf, "-----BEGIN PGP SIGNATURE-----", 29) == 0) {
		rc = error_set(FURROW_EVERIFY, "commit is signed with OpenPGP; "
			       "only SSH signatures (gpg.format=ssh) are "
			       "supported");
		goto out;
	}
	rc = verify_sshsig(out, trust, "git", payload.buf, payload.len,
			   signature.buf, signature.len, now);
out:
	strbuf_release(&payload);
	strbuf_release(&signature);
	return rc;
}
