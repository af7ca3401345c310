/*
 * sshsig.c - see sshsig.h.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bug.h"
#include "error.h"
#include "limits.h"
#include "sshsig.h"
#include "sshwire.h"
#include "banned.h"

#define SSHSIG_MAGIC "SSHSIG"
#define SSHSIG_MAGIC_LEN 6

/* Key type names as they appear in blobs and allowed_signers. */
static const struct {
	const char *name;
	enum sshkey_kind kind;
	const char *curve;  /* ECDSA: curve name inside the blob */
	size_t point_len;   /* ECDSA: uncompressed point, 04 || X || Y */
	unsigned bits;
} key_types[] = {
	{ "ssh-ed25519", SSHKEY_ED25519, NULL, 0, 256 },
	{ "ecdsa-sha2-nistp256", SSHKEY_ECDSA_P256, "nistp256", 65, 256 },
	{ "ecdsa-sha2-nistp384", SSHKEY_ECDSA_P384, "nistp384", 97, 384 },
	{ "ecdsa-sha2-nistp521", SSHKEY_ECDSA_P521, "nistp521", 133, 521 },
	{ "ssh-rsa", SSHKEY_RSA, NULL, 0, 0 },
};

/* Copy at most 64 printable bytes of untrusted text for a message. */
static const char *printable(char *buf, size_t size, const char *s,
			     size_t len)
{
	size_t i, o = 0;

	for (i = 0; i < len && o + 4 < size && i < 64; i++)
		buf[o++] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	if (i < len && o + 4 <= size) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

static int has_suffix(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);

	return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

static int type_index(const char *type, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++)
		if (strlen(key_types[i].name) == len &&
		    memcmp(key_types[i].name, type, len) == 0)
			return (int)i;
	return -1;
}

int sshkey_type_check(const char *type, size_t len)
{
	const char *why = NULL;
	char show[80];

	if (type_index(type, len) >= 0)
		return 0;
	if (len >= 3 && memcmp(type, "sk-", 3) == 0)
		why = " (security keys are not supported)";
	else if (has_suffix(type, len, "-cert-v01@openssh.com"))
		why = " (certificates are not supported)";
	else if (len == 7 && memcmp(type, "ssh-dss", 7) == 0)
		why = " (DSA keys are not supported)";
	if (why)
		return error_set(FURROW_EINVAL, "unsupported key type %s%s",
				 printable(show, sizeof(show), type, len), why);
	return error_set(FURROW_EINVAL, "unknown key type \"%s\"",
			 printable(show, sizeof(show), type, len));
}

static unsigned bit_length(const unsigned char *p, size_t len)
{
	unsigned top;

	if (!len)
		return 0;
	for (top = 8; top > 0 && !(p[0] & (1u << (top - 1))); top--)
		;
	return (unsigned)(len - 1) * 8 + top;
}

int sshkey_pub_parse(struct sshkey_pub *out, const void *blob, size_t len)
{
	const unsigned char *type, *p;
	struct sshwire w;
	size_t tlen, n;
	int rc, i;

	memset(out, 0, sizeof(*out));
	if (len > LIMIT_SSH_KEY_BLOB_BYTES)
		return error_set(FURROW_ELIMIT, "public key blob of %zu bytes "
				 "is over the limit of %u", len,
				 LIMIT_SSH_KEY_BLOB_BYTES);
	sshwire_init(&w, blob, len);
	if ((rc = sshwire_string(&w, &type, &tlen)) < 0)
		goto fail;
	if ((rc = sshkey_type_check((const char *)type, tlen)) < 0)
		return rc;
	i = type_index((const char *)type, tlen);
	out->kind = key_types[i].kind;
	out->type = key_types[i].name;
	out->bits = key_types[i].bits;
	switch (out->kind) {
	case SSHKEY_ED25519:
		if ((rc = sshwire_string(&w, &p, &n)) < 0)
			goto fail;
		if (n != 32) {
			rc = error_set(FURROW_ESYNTAX, "Ed25519 key is %zu "
				       "bytes, not 32", n);
			goto fail;
		}
		out->a = p;
		out->a_len = n;
		break;
	case SSHKEY_ECDSA_P256:
	case SSHKEY_ECDSA_P384:
	case SSHKEY_ECDSA_P521:
		if ((rc = sshwire_string_eq(&w, key_types[i].curve)) < 0) {
			rc = error_set(FURROW_ESYNTAX, "curve does not match "
				       "key type %s", out->type);
			goto fail;
		}
		if ((rc = sshwire_string(&w, &p, &n)) < 0)
			goto fail;
		/* Only uncompressed points, like OpenSSH. */
		if (n != key_types[i].point_len || p[0] != 0x04) {
			rc = error_set(FURROW_ESYNTAX, "ECDSA point is not an "
				       "uncompressed %s point",
				       key_types[i].curve);
			goto fail;
		}
		out->a = p;
		out->a_len = n;
		break;
	case SSHKEY_RSA:
		if ((rc = sshwire_mpint(&w, &out->a, &out->a_len)) < 0 ||
		    (rc = sshwire_mpint(&w, &out->n, &out->n_len)) < 0)
			goto fail;
		out->bits = bit_length(out->n, out->n_len);
		if (out->bits > LIMIT_RSA_MAX_BITS) {
			rc = error_set(FURROW_ELIMIT, "RSA key of %u bits is "
				       "over the limit of %u", out->bits,
				       LIMIT_RSA_MAX_BITS);
			goto fail;
		}
		if (out->a_len > out->n_len) {
			rc = error_set(FURROW_ESYNTAX, "RSA exponent is larger "
				       "than the modulus");
			goto fail;
		}
		break;
	}
	if ((rc = sshwire_end(&w)) < 0)
		goto fail;
	return 0;
fail:
	memset(out, 0, sizeof(*out));
	return error_prefix(rc, "bad public key");
}

int sshsig_parse_blob(struct sshsig **out, const void *blob, size_t len)
{
	struct sshsig *sig = xcalloc(1, sizeof(*sig));
	const unsigned char *p, *reserved;
	struct sshwire w;
	size_t n;
	int rc;

	*out = NULL;
	strbuf_init(&sig->blob, 0);
	if (len > LIMIT_SSHSIG_ARMOR_BYTES) {
		rc = error_set(FURROW_ELIMIT, "signature of %zu bytes is over "
			       "the limit of %u", len,
			       LIMIT_SSHSIG_ARMOR_BYTES);
		goto out;
	}
	strbuf_add(&sig->blob, blob, len);
	sshwire_init(&w, sig->blob.buf, sig->blob.len);
	if ((rc = sshwire_bytes(&w, &p, SSHSIG_MAGIC_LEN)) < 0 ||
	    memcmp(p, SSHSIG_MAGIC, SSHSIG_MAGIC_LEN) != 0) {
		rc = error_set(FURROW_ESYNTAX, "not an SSHSIG signature "
			       "(bad magic)");
		goto out;
	}
	if ((rc = sshwire_u32(&w, &sig->version)) < 0)
		goto bad;
	if (sig->version != 1) {
		rc = error_set(FURROW_ESYNTAX, "unsupported SSHSIG version "
			       "%u", sig->version);
		goto out;
	}
	if ((rc = sshwire_string(&w, &sig->pubkey, &sig->pubkey_len)) < 0)
		goto bad;
	if (sig->pubkey_len > LIMIT_SSH_KEY_BLOB_BYTES) {
		rc = error_set(FURROW_ELIMIT, "public key blob of %zu bytes "
			       "is over the limit of %u", sig->pubkey_len,
			       LIMIT_SSH_KEY_BLOB_BYTES);
		goto out;
	}
	if ((rc = sshwire_cstring(&w, &sig->namespace,
				  LIMIT_SSHSIG_NAMESPACE_BYTES)) < 0)
		goto bad;
	if ((rc = sshwire_string(&w, &reserved, &n)) < 0)
		goto bad;
	/* OpenSSH always signs an empty reserved field; a non-empty one
	 * could only come from a forger, so refuse it outright. */
	if (n) {
		rc = error_set(FURROW_ESYNTAX, "reserved field is not empty");
		goto out;
	}
	if ((rc = sshwire_cstring(&w, &sig->hashalg, 16)) < 0)
		goto bad;
	if (strcmp(sig->hashalg, "sha256") != 0 &&
	    strcmp(sig->hashalg, "sha512") != 0) {
		char show[80];

		rc = error_set(FURROW_ESYNTAX, "unsupported hash algorithm "
			       "\"%s\"", printable(show, sizeof(show),
						   sig->hashalg,
						   strlen(sig->hashalg)));
		goto out;
	}
	if ((rc = sshwire_string(&w, &sig->sig, &sig->sig_len)) < 0)
		goto bad;
	if ((rc = sshwire_end(&w)) < 0)
		goto bad;
	*out = sig;
	sig = NULL;
	rc = 0;
	goto out;
bad:
	error_prefix(rc, "malformed SSHSIG signature");
out:
	sshsig_free(sig);
	return rc;
}

int sshsig_parse(struct sshsig **out, const char *armored, size_t len)
{
	static const char begin[] = SSHSIG_ARMOR_BEGIN "\n";
	static const char end[] = "\n" SSHSIG_ARMOR_END;
	struct strbuf b64 = STRBUF_INIT, bin = STRBUF_INIT;
	const char *body, *stop;
	size_t i;
	int rc;

	*out = NULL;
	if (len > LIMIT_SSHSIG_ARMOR_BYTES) {
		rc = error_set(FURROW_ELIMIT, "signature of %zu bytes is over "
			       "the limit of %u", len,
			       LIMIT_SSHSIG_ARMOR_BYTES);
		goto out;
	}
	/* The exact header line, with "\n": OpenSSH compares it byte for
	 * byte, so CRLF or leading text is refused by both. */
	if (len < sizeof(begin) - 1 ||
	    memcmp(armored, begin, sizeof(begin) - 1) != 0) {
		rc = error_set(FURROW_ESYNTAX, "bad signature armor: missing "
			       "\"%s\" line", SSHSIG_ARMOR_BEGIN);
		goto out;
	}
	body = armored + sizeof(begin) - 1;
	stop = memmem(body, (size_t)(armored + len - body), end,
		      sizeof(end) - 1);
	if (!stop) {
		rc = error_set(FURROW_ESYNTAX, "bad signature armor: missing "
			       "\"%s\" line", SSHSIG_ARMOR_END);
		goto out;
	}
	for (i = 0; body + i < stop; i++)
		if (body[i] != '\n')
			strbuf_addch(&b64, body[i]);
	if ((rc = sshwire_base64_decode(&bin, b64.buf, b64.len,
					LIMIT_SSHSIG_ARMOR_BYTES)) < 0) {
		error_prefix(rc, "bad signature armor");
		goto out;
	}
	rc = sshsig_parse_blob(out, bin.buf, bin.len);
out:
	strbuf_release(&b64);
	strbuf_release(&bin);
	return rc;
}

void sshsig_free(struct sshsig *sig)
{
	if (!sig)
		return;
	strbuf_release(&sig->blob);
	free(sig->namespace);
	free(sig->hashalg);
	free(sig);
}

static void put_string(struct strbuf *out, const void *data, size_t len)
{
	unsigned char n[4];

	if (len > UINT32_MAX)
		BUG("SSH string of %zu bytes", len);
	n[0] = (unsigned char)(len >> 24);
	n[1] = (unsigned char)(len >> 16);
	n[2] = (unsigned char)(len >> 8);
	n[3] = (unsigned char)len;
	strbuf_add(out, n, 4);
	strbuf_add(out, data, len);
}

void sshsig_signed_data(struct strbuf *out, const char *namespace,
			const char *hashalg, const void *digest, size_t dlen)
{
	strbuf_add(out, SSHSIG_MAGIC, SSHSIG_MAGIC_LEN);
	put_string(out, namespace, strlen(namespace));
	put_string(out, "", 0);
	put_string(out, hashalg, strlen(hashalg));
	put_string(out, digest, dlen);
}
