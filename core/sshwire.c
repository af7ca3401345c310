/*
 * sshwire.c - see sshwire.h.
 */
#include <stdint.h>
#include <string.h>

#include "bug.h"
#include "error.h"
#include "sshwire.h"
#include "banned.h"

void sshwire_init(struct sshwire *w, const void *buf, size_t len)
{
	w->buf = buf;
	w->len = buf ? len : 0;
	w->off = 0;
}

size_t sshwire_left(const struct sshwire *w)
{
	return w->len - w->off;
}

int sshwire_u32(struct sshwire *w, uint32_t *out)
{
	const unsigned char *p;

	if (sshwire_left(w) < 4)
		return error_set(FURROW_ESYNTAX, "truncated length field");
	p = w->buf + w->off;
	*out = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
	w->off += 4;
	return 0;
}

int sshwire_bytes(struct sshwire *w, const unsigned char **out, size_t n)
{
	if (sshwire_left(w) < n)
		return error_set(FURROW_ESYNTAX, "truncated data (%zu bytes "
				 "wanted, %zu left)", n, sshwire_left(w));
	*out = w->buf + w->off;
	w->off += n;
	return 0;
}

int sshwire_string(struct sshwire *w, const unsigned char **out,
		   size_t *outlen)
{
	size_t start = w->off;
	uint32_t n = 0;
	int rc;

	if ((rc = sshwire_u32(w, &n)) < 0)
		return rc;
	/* Compare as size_t: a length near 4 GiB must fail, not wrap. */
	if ((size_t)n > sshwire_left(w)) {
		w->off = start;
		return error_set(FURROW_ESYNTAX, "string length %u runs past "
				 "the end of the data", n);
	}
	*out = w->buf + w->off;
	*outlen = n;
	w->off += n;
	return 0;
}

int sshwire_cstring(struct sshwire *w, char **out, size_t max)
{
	size_t start = w->off, n;
	const unsigned char *p;
	int rc;

	*out = NULL;
	if ((rc = sshwire_string(w, &p, &n)) < 0)
		return rc;
	if (n > max) {
		w->off = start;
		return error_set(FURROW_ELIMIT, "string of %zu bytes is over "
				 "the limit of %zu", n, max);
	}
	if (memchr(p, '\0', n)) {
		w->off = start;
		return error_set(FURROW_ESYNTAX, "text string contains a NUL "
				 "byte");
	}
	*out = xstrndup((const char *)p, n);
	return 0;
}

int sshwire_string_eq(struct sshwire *w, const char *s)
{
	size_t start = w->off, n;
	const unsigned char *p;
	int rc;

	if ((rc = sshwire_string(w, &p, &n)) < 0)
		return rc;
	if (n != strlen(s) || memcmp(p, s, n) != 0) {
		w->off = start;
		return error_set(FURROW_ESYNTAX, "expected \"%s\"", s);
	}
	return 0;
}

int sshwire_mpint(struct sshwire *w, const unsigned char **out,
		  size_t *outlen)
{
	size_t start = w->off, n;
	const unsigned char *p;
	int rc;

	if ((rc = sshwire_string(w, &p, &n)) < 0)
		return rc;
	rc = FURROW_ESYNTAX;
	if (n == 0) {
		error_set(rc, "integer is zero");
		goto fail;
	}
	if (p[0] & 0x80) {
		error_set(rc, "integer is negative");
		goto fail;
	}
	if (p[0] == 0) {
		/* The zero byte is only there to keep the top bit clear. */
		if (n == 1 || !(p[1] & 0x80)) {
			error_set(rc, "integer is not minimally encoded");
			goto fail;
		}
		p++;
		n--;
	}
	*out = p;
	*outlen = n;
	return 0;
fail:
	w->off = start;
	return rc;
}

int sshwire_end(const struct sshwire *w)
{
	if (sshwire_left(w))
		return error_set(FURROW_ESYNTAX, "%zu bytes of trailing data",
				 sshwire_left(w));
	return 0;
}

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int sshwire_base64_decode(struct strbuf *out, const char *in, size_t len,
			  size_t max)
{
	size_t i, pad = 0, outlen, start = out->len;
	unsigned char quad[4];
	int v, j;

	if (len % 4)
		return error_set(FURROW_ESYNTAX, "base64 length %zu is not a "
				 "multiple of 4", len);
	if (len && in[len - 1] == '=')
		pad = len >= 2 && in[len - 2] == '=' ? 2 : 1;
	outlen = len / 4 * 3 - pad;
	if (outlen > max)
		return error_set(FURROW_ELIMIT, "base64 data decodes to %zu "
				 "bytes, over the limit of %zu", outlen, max);
	strbuf_grow(out, outlen);
	for (i = 0; i < len; i += 4) {
		int last = i + 4 == len;

		for (j = 0; j < 4; j++) {
			unsigned char c = (unsigned char)in[i + j];

			if (c == '=' && last && j >= 4 - (int)pad) {
				quad[j] = 0;
				continue;
			}
			if ((v = b64_value(c)) < 0)
				goto bad;
			quad[j] = (unsigned char)v;
		}
		strbuf_addch(out, quad[0] << 2 | quad[1] >> 4);
		if (last && pad == 2) {
			/* Bits that fall off the end must be zero, or one
			 * byte string would have several encodings. */
			if (quad[1] & 0x0f)
				goto bad;
			break;
		}
		strbuf_addch(out, (quad[1] & 0x0f) << 4 | quad[2] >> 2);
		if (last && pad == 1) {
			if (quad[2] & 0x03)
				goto bad;
			break;
		}
		strbuf_addch(out, (quad[2] & 0x03) << 6 | quad[3]);
	}
	return 0;
bad:
	strbuf_setlen(out, start);
	return error_set(FURROW_ESYNTAX, "invalid base64");
}

void sshwire_base64_encode(struct strbuf *out, const void *data, size_t len,
			   int pad)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "abcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = data;
	size_t i;

	for (i = 0; i + 3 <= len; i += 3) {
		strbuf_addch(out, tab[p[i] >> 2]);
		strbuf_addch(out, tab[(p[i] & 3) << 4 | p[i + 1] >> 4]);
		strbuf_addch(out, tab[(p[i + 1] & 15) << 2 | p[i + 2] >> 6]);
		strbuf_addch(out, tab[p[i + 2] & 63]);
	}
	if (len - i == 1) {
		strbuf_addch(out, tab[p[i] >> 2]);
		strbuf_addch(out, tab[(p[i] & 3) << 4]);
		if (pad)
			strbuf_addstr(out, "==");
	} else if (len - i == 2) {
		strbuf_addch(out, tab[p[i] >> 2]);
		strbuf_addch(out, tab[(p[i] & 3) << 4 | p[i + 1] >> 4]);
		strbuf_addch(out, tab[(p[i + 1] & 15) << 2]);
		if (pad)
			strbuf_addch(out, '=');
	}
}
