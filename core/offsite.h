/*
 * offsite.h - the offsite copy of furrow's encrypted backups: objects
 * stored with plain HTTPS PUT and read with GET under a base URL (an
 * nginx WebDAV directory with `dav_methods PUT; create_full_put_path on;`,
 * or any server that stores what is PUT and serves it back).
 *
 * The objects are already encrypted and named by the backup code; this
 * file only moves bytes and proves they arrived: every PUT is read back
 * and compared.  Nothing is ever deleted.  A bearer token (read from a
 * file on every request, so a rotated token is picked up) authorises
 * both; it never appears in a message.  All requests go through
 * core/http.c.
 */
#ifndef FURROW_OFFSITE_H
#define FURROW_OFFSITE_H

#include <stddef.h>

#include "strbuf.h"

/* An object name: at most this many bytes. */
#define OFFSITE_NAME_BYTES 512
/* A request during which no byte is sent or received for this long fails
 * (FURROW_ETIMEOUT) even if its timeout_ms has not passed: a link cut in
 * the middle of a large upload is noticed without waiting out a timeout
 * sized for the upload. */
#define OFFSITE_IDLE_MS 15000u
/* Bytes of a PUT's or a failed GET's answer body kept (never shown). */
#define OFFSITE_ANSWER_BYTES 4096

struct offsite {
	const char *url;        /* base, https:// (or http:// to loopback),
	                           with or without trailing slash; no query
	                           or fragment */
	const char *token_file; /* sent as "Authorization: Bearer ..."; may
	                           be NULL: no Authorization */
	const char *ca_file;    /* PEM bundle; NULL: the system bundle */
	unsigned timeout_ms;    /* per request (the PUT, then the read-back
	                           GET, each), connect included */
};

/*
 * Store len bytes of data as name under o->url, then GET it back and
 * compare byte for byte.  name is a relative path such as
 * "chunks/ab/abcd..." or "snapshots/0000000042": only [a-z0-9/._-], no
 * "..", no leading "/", no empty or "." component, at most
 * OFFSITE_NAME_BYTES.  Storing a name that exists overwrites it (storing
 * the same bytes again is harmless: the call is idempotent).
 *
 * Returns 0 once the server answered the PUT with 2xx (200, 201, 204)
 * and the GET returned exactly data.  Otherwise a negative code with the
 * message starting with the object's URL:
 *   FURROW_EINVAL  a bad name or base URL; the server answered 401 or
 *                  403 ("offsite target refused the token"); an unusable
 *                  token file (as http_post())
 *   FURROW_EVERIFY the read-back differs (other bytes, other length, or
 *                  404: the server lost what it accepted)
 *   FURROW_EIO     any other status (named in the message), or a
 *                  transport failure (refused, reset, TLS: a wrong CA)
 *   FURROW_ETIMEOUT  timeout_ms passed, or OFFSITE_IDLE_MS without a byte
 *   FURROW_ENOENT, FURROW_ELIMIT  the token file (as http_post())
 */
int offsite_put(const struct offsite *o, const char *name, const void *data,
		size_t len);

/*
 * GET name (same rules as offsite_put()) into out, replacing its
 * contents: at most max bytes; the bytes as stored, NULs included.
 * Returns 0 on a 200.  Otherwise out is left empty and the message
 * starts with the object's URL: FURROW_ENOENT for 404 or 410 ("no such
 * object"), FURROW_ELIMIT for an object longer than max,
 * FURROW_EINVAL for a bad name or 401/403, FURROW_EIO for any other
 * status or transport failure, FURROW_ETIMEOUT as for offsite_put().
 * What the bytes mean (their hash, their decryption) is the caller's to
 * check: a server can return anything.
 */
int offsite_get(const struct offsite *o, const char *name, struct strbuf *out,
		size_t max);

#endif
