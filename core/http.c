/*
 * http.c - see http.h.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "bug.h"
#include "error.h"
#include "http.h"
#include "limits.h"
#include "strbuf.h"
#include "banned.h"

/* The compiled-in default may name a file this host does not have. */
#define HTTP_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"

const char *http_curl_version(void)
{
	return curl_version_info(CURLVERSION_NOW)->version;
}

const char *http_zlib_version(void)
{
	const char *v = curl_version_info(CURLVERSION_NOW)->libz_version;

	return v ? v : "none";
}

const char *http_tls_backend(void)
{
	const char *v = curl_version_info(CURLVERSION_NOW)->ssl_version;

	return v ? v : "none";
}

static pthread_once_t http_once = PTHREAD_ONCE_INIT;

static void http_global_init(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		BUG("curl_global_init failed");
}

struct http_sink {
	struct http_response *resp;
	size_t max;
	size_t cap;                 /* bytes resp->body holds, less its NUL */
	enum http_overflow overflow;
};

/* Room in the body for want bytes (want <= max) and a NUL.  The buffer
 * grows with what arrives, not to max at once: a caller may allow a
 * large body that is usually small. */
static void http_reserve(struct http_sink *sink, size_t want)
{
	size_t n = sink->cap < 4096 ? 4096 : sink->cap;

	if (want <= sink->cap)
		return;
	while (n < want)
		n = n > sink->max / 2 ? sink->max : n * 2;
	if (n > sink->max)
		n = sink->max;
	sink->resp->body = xrealloc(sink->resp->body, n + 1);
	sink->cap = n;
}

/* Keeps the first max bytes; past that, stops the transfer, or goes on
 * reading and drops what does not fit (HTTP_OVERFLOW_HEAD), or keeps the
 * last max bytes (HTTP_OVERFLOW_TAIL).  Bytes are copied as they come:
 * a binary body may hold NULs, body_len is exact. */
static size_t http_write(char *data, size_t size, size_t n, void *arg)
{
	struct http_sink *sink = arg;
	struct http_response *r = sink->resp;
	size_t len = size * n;
	size_t room = sink->max - r->body_len;
	size_t take = len < room ? len : room;

	if (take < len && sink->overflow == HTTP_OVERFLOW_TAIL) {
		http_reserve(sink, sink->max);
		r = sink->resp;
		/* Room for len: drop the oldest bytes (all of them when the
		 * chunk alone fills the buffer). */
		if (len >= sink->max) {
			data += len - sink->max;
			len = sink->max;
			r->body_len = 0;
		} else {
			size_t drop = r->body_len + len - sink->max;

			memmove(r->body, r->body + drop, r->body_len - drop);
			r->body_len -= drop;
		}
		memcpy(r->body + r->body_len, data, len);
		r->body_len += len;
		r->body[r->body_len] = '\0';
		r->truncated = 1;
		return size * n;
	}
	if (take) {
		http_reserve(sink, r->body_len + take);
		memcpy(r->body + r->body_len, data, take);
		r->body_len += take;
		r->body[r->body_len] = '\0';
	}
	if (take < len) {
		r->truncated = 1;
		if (sink->overflow == HTTP_OVERFLOW_HEAD)
			return len;
		return 0; /* CURLE_WRITE_ERROR, recognised by http_request() */
	}
	return len;
}

/* What a PUT sends: body_len bytes of body, read by curl in pieces. */
struct http_source {
	const char *data;
	size_t len, off;
};

static size_t http_read(char *buf, size_t size, size_t n, void *arg)
{
	struct http_source *src = arg;
	size_t room = size * n, left = src->len - src->off;
	size_t take = left < room ? left : room;

	if (take)
		memcpy(buf, src->data + src->off, take);
	src->off += take;
	return take;
}

/* curl rewinds the body if it must send it again on a new connection. */
static int http_seek(void *arg, curl_off_t offset, int origin)
{
	struct http_source *src = arg;

	if (origin != SEEK_SET || offset < 0 || offset > (curl_off_t)src->len)
		return CURL_SEEKFUNC_CANTSEEK;
	src->off = (size_t)offset;
	return CURL_SEEKFUNC_OK;
}

/* "Connection refused" -> "connection refused", to sit after a colon. */
static void http_set_os_error(int code, const char *url, int err)
{
	char msg[256];

	snprintf(msg, sizeof(msg), "%s", strerror(err));
	msg[0] = (char)tolower((unsigned char)msg[0]);
	error_set(code, "%s: %s", url, msg);
}

/* curl_slist_append() or die: it fails only for want of memory. */
static struct curl_slist *http_slist(struct curl_slist *l, const char *s)
{
	struct curl_slist *n = curl_slist_append(l, s);

	if (!n)
		BUG("out of memory");
	return n;
}

/* Free a header list, wiping each string first (one may hold a token). */
static void http_slist_wipe(struct curl_slist *l)
{
	struct curl_slist *p;

	for (p = l; p; p = p->next)
		explicit_bzero(p->data, strlen(p->data));
	curl_slist_free_all(l);
}

/* One request, as http_get(), http_post(), http_put(), http_fetch() and
 * http_unix() make it. */
struct http_req {
	const char *url;
	const char *name;           /* starts messages; NULL: url */
	const char *unix_socket;    /* connect there instead; NULL: TCP */
	const char *method;         /* other than GET/POST/PUT; NULL: those */
	unsigned idle_ms;           /* nothing moved this long: give up; 0:
	                               no such limit */
	enum http_overflow overflow;
	const char *protocols;      /* CURLOPT_PROTOCOLS_STR */
	const char *ca_file;
	unsigned timeout_ms;
	size_t max_body;
	struct curl_slist *headers; /* NULL: curl's own */
	const char *body;           /* POST this (PUT if upload); NULL: GET */
	size_t body_len;
	int upload;                 /* send body with PUT, read in pieces */
	int (*cancel)(void *arg);
	void *cancel_arg;
};

/* What the progress callback watches: cancellation, and an idle
 * transfer (no byte in either direction for idle_ms). */
struct http_progress {
	const struct http_req *r;
	curl_off_t down, up;      /* bytes moved when last seen */
	struct timespec moved;    /* when a byte last moved */
	int idle;                 /* the idle limit ended the transfer */
};

static long long http_ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)(t.tv_sec - t0->tv_sec) * 1000 +
	       (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static int http_xferinfo(void *arg, curl_off_t dltotal, curl_off_t dlnow,
			 curl_off_t ultotal, curl_off_t ulnow)
{
	struct http_progress *p = arg;
	const struct http_req *r = p->r;

	(void)dltotal, (void)ultotal;
	if (r->cancel && r->cancel(r->cancel_arg))
		return 1;
	if (!r->idle_ms)
		return 0;
	if (dlnow != p->down || ulnow != p->up) {
		p->down = dlnow;
		p->up = ulnow;
		clock_gettime(CLOCK_MONOTONIC, &p->moved);
		return 0;
	}
	if (http_ms_since(&p->moved) >= (long long)r->idle_ms) {
		p->idle = 1;
		return 1;
	}
	return 0;
}

/* Retry-After (RFC 9110 10.2.3): delta-seconds, or an HTTP-date in any
 * of the three forms, which curl_getdate() reads.  Seconds from now, 0
 * for a date already past, -1 for anything else. */
static long http_retry_after(const char *v)
{
	const char *p;
	long long n = 0;

	while (*v == ' ' || *v == '\t')
		v++;
	if (!*v)
		return -1;
	for (p = v; *p >= '0' && *p <= '9'; p++)
		if (n < 1000000000LL) /* ~31 years; callers cap far lower */
			n = n * 10 + (*p - '0');
	while (*p == ' ' || *p == '\t')
		p++;
	if (p > v && !*p)
		return (long)n;
	if (*v >= '0' && *v <= '9')
		return -1; /* "12abc" */
	{
		time_t t = curl_getdate(v, NULL), now = time(NULL);

		if (t == (time_t)-1)
			return -1;
		if (t <= now)
			return 0;
		return t - now > 1000000000 ? 1000000000L : (long)(t - now);
	}
}

static int http_request(struct http_response *out, const struct http_req *r)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct http_sink sink = { out, r->max_body, 0, r->overflow };
	struct http_source src = { r->body, r->body_len, 0 };
	struct http_progress prog = { r, 0, 0, { 0, 0 }, 0 };
	struct curl_header *h = NULL;
	const char *url = r->name ? r->name : r->url;
	CURL *c = NULL;
	CURLcode rc;
	char *location = NULL;
	long os_errno = 0;
	int ret = 0;

	memset(out, 0, sizeof(*out));
	out->retry_after = -1;
	out->body = xmalloc(1);
	out->body[0] = '\0';
	if (sink.max > SIZE_MAX / 2)
		sink.max = SIZE_MAX / 2; /* max + 1 cannot wrap */
	pthread_once(&http_once, http_global_init);
	c = curl_easy_init();
	if (!c)
		BUG("curl_easy_init failed");

	if (curl_easy_setopt(c, CURLOPT_URL, r->url) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, r->protocols) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, r->protocols) != CURLE_OK) {
		ret = error_set(FURROW_EINVAL, "%s: not an http:// or https:// URL curl accepts", url);
		goto out;
	}
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)r->timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)r->timeout_ms);
	curl_easy_setopt(c, CURLOPT_CAINFO, r->ca_file);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "furrow/" FURROW_VERSION);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
	if (r->headers)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, r->headers);
	if (r->unix_socket &&
	    curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, r->unix_socket) != CURLE_OK) {
		ret = error_set(FURROW_EINVAL, "%s: this libcurl cannot use a unix "
				"socket", url);
		goto out;
	}
	if (r->body && r->upload) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, http_read);
		curl_easy_setopt(c, CURLOPT_READDATA, (void *)&src);
		curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, http_seek);
		curl_easy_setopt(c, CURLOPT_SEEKDATA, (void *)&src);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
	} else if (r->body) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
	}
	if (r->method)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r->method);
	if (r->cancel || r->idle_ms) {
		clock_gettime(CLOCK_MONOTONIC, &prog.moved);
		curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, http_xferinfo);
		curl_easy_setopt(c, CURLOPT_XFERINFODATA, (void *)&prog);
		curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	}

	rc = curl_easy_perform(c);
	if (rc == CURLE_WRITE_ERROR && out->truncated)
		rc = CURLE_OK;
	if (rc != CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
		if (rc == CURLE_OPERATION_TIMEDOUT)
			ret = error_set(FURROW_ETIMEOUT, "%s: no answer within %u ms",
					url, r->timeout_ms);
		else if (rc == CURLE_ABORTED_BY_CALLBACK && prog.idle)
			ret = error_set(FURROW_ETIMEOUT, "%s: nothing received "
					"for %u ms", url, r->idle_ms);
		else if (rc == CURLE_ABORTED_BY_CALLBACK)
			ret = error_set(FURROW_EIO, "%s: cancelled", url);
		else if (rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL)
			ret = error_set(FURROW_EINVAL, "%s: %s", url,
					*errbuf ? errbuf : curl_easy_strerror(rc));
		else if (rc == CURLE_COULDNT_CONNECT && os_errno) {
			http_set_os_error(FURROW_EIO, url, (int)os_errno);
			ret = FURROW_EIO;
		} else
			ret = error_set(FURROW_EIO, "%s: %s", url,
					*errbuf ? errbuf : curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
	if (curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &location) == CURLE_OK &&
	    location)
		out->redirect = xstrdup(location);
	/* The last response's header (not a 100 Continue's); the last one
	 * if it came twice. */
	if (curl_easy_header(c, "Retry-After", 0, CURLH_HEADER, -1, &h) == CURLHE_OK &&
	    h->amount > 0 &&
	    curl_easy_header(c, "Retry-After", h->amount - 1, CURLH_HEADER, -1,
			     &h) == CURLHE_OK)
		out->retry_after = http_retry_after(h->value);
out:
	if (c)
		curl_easy_cleanup(c);
	if (ret < 0)
		http_response_release(out);
	return ret;
}

int http_get(struct http_response *out, const char *url, unsigned timeout_ms,
	     size_t max_body)
{
	struct http_req r = {
		.url = url, .protocols = "http,https", .ca_file = HTTP_CA_BUNDLE,
		.timeout_ms = timeout_ms, .max_body = max_body,
	};

	return http_request(out, &r);
}

/* https://, or http:// to this host; the scheme curl may use, or an
 * error.  Parsed by curl's own URL parser, the one the request uses. */
static int http_url_protocols(const char *url, const char **protocols)
{
	static const char *const loopback[] = { "127.0.0.1", "[::1]", "localhost" };
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	int ret = 0;
	size_t i;

	if (!u)
		BUG("curl_url failed");
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		ret = error_set(FURROW_EINVAL, "%s: not a URL curl accepts", url);
		goto out;
	}
	if (!strcmp(scheme, "https")) {
		*protocols = "https";
		goto out;
	}
	if (!strcmp(scheme, "http")) {
		for (i = 0; i < sizeof(loopback) / sizeof(*loopback); i++)
			if (!strcasecmp(host, loopback[i])) {
				*protocols = "http";
				goto out;
			}
		ret = error_set(FURROW_EINVAL, "%s: plain http:// only to this host "
				"(127.0.0.1, [::1], localhost); use https://", url);
		goto out;
	}
	ret = error_set(FURROW_EINVAL, "%s: not an https:// URL", url);
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return ret;
}

/* "Authorization: Bearer <token>" into sb, from the token file.  The
 * token never goes into a message: errors name the file only. */
static int http_bearer(struct strbuf *sb, const char *url, const char *path)
{
	struct strbuf tok = STRBUF_INIT;
	size_t i;
	int ret;

	if ((ret = strbuf_read_file(&tok, path, LIMIT_TOKEN_FILE_BYTES)) < 0) {
		error_prefix(ret, "%s: token file", url);
		goto out;
	}
	while (tok.len && strchr(" \t\r\n", tok.buf[tok.len - 1]))
		strbuf_setlen(&tok, tok.len - 1);
	if (!tok.len) {
		ret = error_set(FURROW_EINVAL, "%s: token file %s is empty", url, path);
		goto out;
	}
	for (i = 0; i < tok.len; i++)
		if ((unsigned char)tok.buf[i] < ' ' || tok.buf[i] == 0x7f) {
			ret = error_set(FURROW_EINVAL, "%s: token file %s: the token "
					"has control characters (one line only)",
					url, path);
			goto out;
		}
	strbuf_addstr(sb, "Authorization: Bearer ");
	strbuf_add(sb, tok.buf, tok.len);
out:
	explicit_bzero(tok.buf, tok.alloc);
	strbuf_release(&tok);
	return ret;
}

/*
 * The request http_post(), http_put() and http_fetch() make, r holding
 * what differs between them (body, upload): https:// or loopback
 * http:// only, the token, CA, deadlines, body bound and cancel hook of
 * o, and these headers (content_type, accept NULL: none).
 */
static int http_send(struct http_response *out, const char *url,
		     struct http_req *r, const char *content_type,
		     const char *accept, const struct http_post_options *o)
{
	struct strbuf auth = STRBUF_INIT, hdr = STRBUF_INIT;
	struct curl_slist *hl = NULL;
	int ret;

	memset(out, 0, sizeof(*out));
	out->retry_after = -1;
	pthread_once(&http_once, http_global_init);
	r->url = url;
	r->ca_file = o->ca_file ? o->ca_file : HTTP_CA_BUNDLE;
	r->timeout_ms = o->timeout_ms;
	/* A stall ends the request before the whole deadline only when
	 * the idle limit is the shorter of the two. */
	if (o->idle_ms && (!o->timeout_ms || o->idle_ms < o->timeout_ms))
		r->idle_ms = o->idle_ms;
	r->max_body = o->max_body;
	r->cancel = o->cancel;
	r->cancel_arg = o->cancel_arg;
	if ((ret = http_url_protocols(url, &r->protocols)))
		goto out;
	if (o->idempotency_key &&
	    strcspn(o->idempotency_key, "\r\n") != strlen(o->idempotency_key)) {
		ret = error_set(FURROW_EINVAL, "%s: an Idempotency-Key with a "
				"line break", url);
		goto out;
	}
	if (o->token_file && (ret = http_bearer(&auth, url, o->token_file)))
		goto out;
	if (content_type) {
		strbuf_addf(&hdr, "Content-Type: %s", content_type);
		hl = http_slist(hl, hdr.buf);
		strbuf_reset(&hdr);
	}
	if (accept) {
		strbuf_addf(&hdr, "Accept: %s", accept);
		hl = http_slist(hl, hdr.buf);
		strbuf_reset(&hdr);
	}
	/* No 100-continue round trip: it costs a round trip (or a second
	 * of waiting) per request, and some servers answer it badly. */
	hl = http_slist(hl, "Expect:");
	if (o->idempotency_key) {
		strbuf_addf(&hdr, "Idempotency-Key: %s", o->idempotency_key);
		hl = http_slist(hl, hdr.buf);
	}
	if (auth.len)
		hl = http_slist(hl, auth.buf);
	r->headers = hl;
	ret = http_request(out, r);
out:
	http_slist_wipe(hl);
	explicit_bzero(auth.buf, auth.alloc);
	strbuf_release(&auth);
	strbuf_release(&hdr);
	return ret;
}

int http_post(struct http_response *out, const char *url, const char *body,
	      size_t len, const struct http_post_options *o)
{
	struct http_req r = { .body = body, .body_len = len };

	return http_send(out, url, &r, "application/json", "application/json", o);
}

int http_put(struct http_response *out, const char *url, const void *body,
	     size_t len, const struct http_post_options *o)
{
	struct http_req r = {
		.body = body ? body : "", .body_len = body ? len : 0, .upload = 1,
	};

	return http_send(out, url, &r, "application/octet-stream", NULL, o);
}

int http_fetch(struct http_response *out, const char *url,
	       const struct http_post_options *o)
{
	struct http_req r = { .body = NULL };

	return http_send(out, url, &r, NULL, NULL, o);
}

int http_unix(struct http_response *out, const struct http_unix_request *u)
{
	struct http_req r = {
		.protocols = "http", .ca_file = HTTP_CA_BUNDLE,
		.unix_socket = u->socket, .timeout_ms = u->timeout_ms,
		.idle_ms = u->idle_ms, .max_body = u->max_body,
		.overflow = u->overflow,
	};
	struct strbuf url = STRBUF_INIT, name = STRBUF_INIT;
	struct curl_slist *hl = NULL;
	const char *p;
	int ret;

	memset(out, 0, sizeof(*out));
	out->retry_after = -1;
	strbuf_addf(&name, "%s: %s %s", u->socket, u->method, u->path);
	/* What goes on the request line: a method token, and a path that
	 * needs no further encoding. */
	for (p = u->method; *p >= 'A' && *p <= 'Z'; p++)
		;
	if (!*u->method || *p) {
		ret = error_set(FURROW_EINVAL, "%s: not an HTTP method", name.buf);
		goto out;
	}
	for (p = u->path; *p > ' ' && *p < 0x7f; p++)
		;
	if (u->path[0] != '/' || *p) {
		ret = error_set(FURROW_EINVAL, "%s: a request path is \"/...\" "
				"without spaces or control characters", name.buf);
		goto out;
	}
	/* The host name is not looked up: curl connects to the socket. */
	strbuf_addf(&url, "http://d%s", u->path);
	r.url = url.buf;
	r.name = name.buf;
	if (strcmp(u->method, "GET") && strcmp(u->method, "POST"))
		r.method = u->method;
	if (u->body || !strcmp(u->method, "POST")) {
		r.body = u->body ? u->body : "";
		r.body_len = u->body ? u->body_len : 0;
	}
	if (u->body)
		hl = http_slist(hl, "Content-Type: application/json");
	if (u->header) {
		if (strpbrk(u->header, "\r\n")) {
			ret = error_set(FURROW_EINVAL, "%s: a header with a line "
					"break", name.buf);
			goto out;
		}
		hl = http_slist(hl, u->header);
	}
	hl = http_slist(hl, "Expect:");
	r.headers = hl;
	pthread_once(&http_once, http_global_init);
	ret = http_request(out, &r);
out:
	curl_slist_free_all(hl);
	strbuf_release(&url);
	strbuf_release(&name);
	return ret;
}

void http_response_release(struct http_response *out)
{
	if (!out)
		return;
	free(out->body);
	free(out->redirect);
	memset(out, 0, sizeof(*out));
}
