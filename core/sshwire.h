/*
 * sshwire.h - a bounded reader for the SSH wire format (RFC 4251 section
 * 5) and strict base64, shared by the signature parsers.
 *
 * A struct sshwire is a cursor over a const buffer the caller owns; every
 * read checks the remaining length first, so no length field in hostile
 * input can move the cursor past the end.  Reads that fail leave the
 * cursor where it was and return FURROW_ESYNTAX with a message that says
 * what was malformed (callers prefix it with what they were reading).
 */
#ifndef FURROW_SSHWIRE_H
#define FURROW_SSHWIRE_H

#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

struct sshwire {
	const unsigned char *buf;
	size_t len;
	size_t off;
};

void sshwire_init(struct sshwire *w, const void *buf, size_t len);

/* Bytes not read yet. */
size_t sshwire_left(const struct sshwire *w);

/* Read a big-endian uint32. */
int sshwire_u32(struct sshwire *w, uint32_t *out);

/* Read n raw bytes; *out points into the buffer. */
int sshwire_bytes(struct sshwire *w, const unsigned char **out, size_t n);

/* Read a string (uint32 length + bytes); *out points into the buffer. */
int sshwire_string(struct sshwire *w, const unsigned char **out,
		   size_t *outlen);

/*
 * Read a string that must be text: no NUL byte, at most max bytes.  It is
 * copied, NUL-terminated, into a new allocation the caller frees.
 */
int sshwire_cstring(struct sshwire *w, char **out, size_t max);

/* Read a string and succeed only if it equals s exactly. */
int sshwire_string_eq(struct sshwire *w, const char *s);

/*
 * Read an mpint that must be positive and minimally encoded (a leading
 * zero byte only where the top bit would otherwise be set), as OpenSSH
 * writes them.  *out points at the magnitude (leading zero stripped).
 * Stricter than OpenSSH's reader, which tolerates extra zero bytes: an
 * integer then has exactly one encoding, so blobs compare by bytes.
 */
int sshwire_mpint(struct sshwire *w, const unsigned char **out,
		  size_t *outlen);

/* Succeed only if every byte was read (no trailing data). */
int sshwire_end(const struct sshwire *w);

/*
 * Strict base64 (RFC 4648 alphabet, '=' padding required, no whitespace,
 * unused bits zero), appended to out.  Fails with FURROW_ESYNTAX if the
 * input is not exactly that, FURROW_ELIMIT if the result would pass max
 * bytes.
 */
int sshwire_base64_decode(struct strbuf *out, const char *in, size_t len,
			  size_t max);

/* Append base64 of data; with pad == 0 the '=' padding is left out (the
 * form OpenSSH uses in "SHA256:" fingerprints). */
void sshwire_base64_encode(struct strbuf *out, const void *data, size_t len,
			   int pad);

#endif
