/*
 * http.h - HTTP(S) with libcurl.
 *
 * core/http.c is the only file that includes <curl/curl.h>.  It reports
 * the linked libcurl and the zlib and TLS library it was built with, as
 * libcurl itself reports them, and makes the requests furrow needs: a
 * bounded GET for health checks (core/health.c), a bounded POST of a
 * JSON document for reports (core/report_send.c), a PUT and a GET of
 * binary objects for offsite copies of backups (core/offsite.c), and
 * bounded requests to an HTTP API on a local unix socket, the container
 * engine's (core/engine_api.c).
 */
#ifndef FURROW_HTTP_H
#define FURROW_HTTP_H

#include <stddef.h>

/* "7.88.1" */
const char *http_curl_version(void);
/* "1.2.13": zlib as linked, read through libcurl at run time. */
const char *http_zlib_version(void);
/* "mbedTLS/2.28.3": libcurl's TLS backend. */
const char *http_tls_backend(void);

/* What came back from a request.  body is never NULL after http_get(),
 * http_post(), http_put(), http_fetch() or http_unix() returned 0 and is
 * NUL-terminated (body_len excludes the NUL).  The bytes are kept as
 * they came: a binary body may hold NULs, and body_len is its exact
 * length.  The buffer grows with the body, not to max_body at once. */
struct http_response {
	long status;         /* e.g. 200; 0 before a response */
	char *body;          /* at most max_body bytes of it */
	size_t body_len;
	int truncated;       /* the body was longer than max_body: the
	                        transfer stopped there */
	char *redirect;      /* Location of a 3xx (not followed), else NULL */
	long retry_after;    /* the Retry-After header in seconds from now:
	                        delta-seconds as sent, or an HTTP-date less
	                        the current time (0 if already past); -1 when
	                        absent or unparsable */
};

/*
 * GET url, once.  Only http:// and https:// (also for redirects, which
 * are never followed: a 3xx is the answer), no proxy from the
 * environment, no signals (CURLOPT_NOSIGNAL), TLS verified against the
 * system bundle /etc/ssl/certs/ca-certificates.crt.  The whole request,
 * connect included, must finish within timeout_ms.  Only the first
 * max_body bytes of the body are kept; a longer body stops the transfer
 * there and sets truncated, which is not an error.
 *
 * Returns 0 when a response arrived, whatever its status; out then
 * belongs to the caller (http_response_release()).  Otherwise out is
 * empty and the message (error.h) starts with the URL: FURROW_ETIMEOUT
 * for the deadline, FURROW_EINVAL for a URL curl refuses, FURROW_EIO
 * for every other failure (refused, reset, name, TLS).
 */
int http_get(struct http_response *out, const char *url, unsigned timeout_ms,
	     size_t max_body);

/* How http_post(), http_put() and http_fetch() send. */
struct http_post_options {
	const char *ca_file;         /* PEM bundle that verifies the server;
	                                NULL: the system bundle */
	const char *token_file;      /* its content, trailing whitespace
	                                dropped, is sent as "Authorization:
	                                Bearer ..."; NULL: no Authorization.
	                                Read on every call (a rotated token is
	                                picked up); never in a message or log */
	const char *idempotency_key; /* Idempotency-Key header; NULL: none */
	unsigned timeout_ms;         /* the whole request, connect included */
	unsigned idle_ms;            /* a low-speed limit: no byte sent or
	                                received for this long (a stalled
	                                link, a server that stopped
	                                answering) ends the request with
	                                FURROW_ETIMEOUT, "nothing received
	                                for N ms", before timeout_ms has
	                                passed; 0, or not below timeout_ms:
	                                only timeout_ms */
	size_t max_body;             /* response body bytes kept */
	/* Polled during the transfer, at least about once a second; a
	 * non-zero return abandons it (FURROW_EIO, "cancelled").  NULL:
	 * never. */
	int (*cancel)(void *arg);
	void *cancel_arg;
};

/*
 * POST body (len bytes, Content-Type: application/json) to url, once.
 * url is https://, or http:// only when its host is loopback (127.0.0.1,
 * [::1] or localhost: a collector on this host).  Like http_get(): no
 * redirects followed (a 3xx is the answer, with redirect set), no proxy
 * from the environment, no signals, the body bounded by o->max_body (a
 * longer one is truncated, not an error), the whole request bounded by
 * o->timeout_ms; no "Expect: 100-continue".
 *
 * Returns 0 when a response arrived, whatever its status (out then
 * belongs to the caller: http_response_release()), else out is empty
 * and the message starts with the URL: FURROW_EINVAL for a URL refused
 * (not https://, plain http:// to another host, or one curl refuses),
 * an Idempotency-Key with a line break, or an unusable token (empty, or
 * with control characters: one line only),
 * FURROW_ENOENT, FURROW_EIO or FURROW_ELIMIT (LIMIT_TOKEN_FILE_BYTES) for
 * a token file that cannot be read, FURROW_ETIMEOUT for the deadline,
 * FURROW_EIO for every other failure (refused, reset, name, TLS,
 * cancelled).
 */
int http_post(struct http_response *out, const char *url, const char *body,
	      size_t len, const struct http_post_options *o);

/*
 * PUT body (len bytes, any bytes, Content-Type: application/octet-stream)
 * to url, once: an upload of a stored object.  Everything else as
 * http_post(): the same URLs (https://, or http:// to loopback), token,
 * CA, deadlines, cancel hook, no redirects followed, no "Expect:
 * 100-continue"; o->idempotency_key is sent if set.  The answer's body
 * (a server's short "Created" page, say) is bounded by o->max_body.
 * Returns as http_post() does: 0 for any response, whatever its status.
 */
int http_put(struct http_response *out, const char *url, const void *body,
	     size_t len, const struct http_post_options *o);

/*
 * GET url, once, with the options of http_post() (https:// or loopback
 * http://, token, CA, deadlines, cancel hook; no redirects followed),
 * for a binary body: at most o->max_body bytes are kept, a longer body
 * stops the transfer there and sets truncated (not an error: the caller
 * decides what too long means).  Returns as http_post() does.
 */
int http_fetch(struct http_response *out, const char *url,
	       const struct http_post_options *o);

/* What to do with a response body longer than max_body. */
enum http_overflow {
	HTTP_OVERFLOW_STOP, /* stop the transfer there (truncated set) */
	HTTP_OVERFLOW_HEAD, /* keep the first max_body bytes, read the rest
	                       to its end and drop it (truncated set) */
	HTTP_OVERFLOW_TAIL, /* keep the last max_body bytes (truncated set):
	                       a progress stream whose verdict comes last */
};

/* A request to an HTTP API on a unix socket (http_unix()). */
struct http_unix_request {
	const char *socket;        /* path of the socket */
	const char *method;        /* "GET", "POST", "DELETE", ... */
	const char *path;          /* "/v1.41/_ping?x=y": from the root,
	                              query included, already %-encoded */
	const char *body;          /* sent as application/json; NULL: none
	                              (a POST then sends an empty body) */
	size_t body_len;
	unsigned timeout_ms;       /* the whole request, connect included */
	unsigned idle_ms;          /* nothing received or sent for this
	                              long ends it; 0: no such limit */
	size_t max_body;           /* response body bytes kept */
	enum http_overflow overflow;
	const char *header;        /* NULL, or one more "Name: value" (no
	                              line break: refused) */
};

/*
 * Make request u once over the unix socket u->socket (the URL is
 * http://d<path>; the host name is never looked up).  No proxy, no
 * redirects followed, no signals, no "Expect: 100-continue".
 *
 * Returns 0 when a response arrived, whatever its status (out then
 * belongs to the caller: http_response_release()), else out is empty and
 * the message starts with "SOCKET: METHOD PATH": FURROW_EINVAL for a
 * method or path that cannot go on a request line, FURROW_ETIMEOUT for
 * the deadline or the idle limit ("nothing received for N ms"),
 * FURROW_EIO for every other failure ("connection refused", "no such
 * file or directory" for a missing socket, a reset).
 */
int http_unix(struct http_response *out, const struct http_unix_request *u);

/* Free what http_get(), http_post(), http_put(), http_fetch() or
 * http_unix() filled in; out may be empty or NULL. */
void http_response_release(struct http_response *out);

#endif
