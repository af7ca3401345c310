/*
 * http.h - HTTP(S) with libcurl.
 *
 * core/http.c is the only file that includes <curl/curl.h>.  It reports
 * the linked libcurl and the zlib and TLS library it was built with, as
 * libcurl itself reports them, and makes the one request furrow needs so
 * far: a bounded GET for health checks (core/health.c).  Other requests
 * (reports, container engine API, offsite backups) arrive with the work
 * that needs them.
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

/* What came back from a request.  body is never NULL after http_get()
 * returned 0 and is NUL-terminated (body_len excludes the NUL). */
struct http_response {
	long status;         /* e.g. 200; 0 before a response */
	char *body;          /* at most max_body bytes of it */
	size_t body_len;
	int truncated;       /* the body was longer than max_body: the
	                        transfer stopped there */
	char *redirect;      /* Location of a 3xx (not followed), else NULL */
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

/* Free what http_get() filled in; out may be empty or NULL. */
void http_response_release(struct http_response *out);

#endif
