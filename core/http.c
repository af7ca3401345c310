/*
 * http.c - see http.h.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "bug.h"
#include "error.h"
#include "http.h"
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
};

/* Keeps the first max bytes; past that, stops the transfer. */
static size_t http_write(char *data, size_t size, size_t n, void *arg)
{
	struct http_sink *sink = arg;
	struct http_response *r = sink->resp;
	size_t len = size * n;
	size_t room = sink->max - r->body_len;
	size_t take = len < room ? len : room;

	if (take) {
		memcpy(r->body + r->body_len, data, take);
		r->body_len += take;
		r->body[r->body_len] = '\0';
	}
	if (take < len) {
		r->truncated = 1;
		return 0; /* CURLE_WRITE_ERROR, recognised by http_get() */
	}
	return len;
}

/* "Connection refused" -> "connection refused", to sit after a colon. */
static void http_set_os_error(int code, const char *url, int err)
{
	char msg[256];

	snprintf(msg, sizeof(msg), "%s", strerror(err));
	msg[0] = (char)tolower((unsigned char)msg[0]);
	error_set(code, "%s: %s", url, msg);
}

int http_get(struct http_response *out, const char *url, unsigned timeout_ms,
	     size_t max_body)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct http_sink sink = { out, max_body };
	CURL *c = NULL;
	CURLcode rc;
	char *location = NULL;
	long os_errno = 0;
	int ret = 0;

	memset(out, 0, sizeof(*out));
	out->body = xmalloc(max_body + 1);
	out->body[0] = '\0';
	pthread_once(&http_once, http_global_init);
	c = curl_easy_init();
	if (!c)
		BUG("curl_easy_init failed");

	if (curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") != CURLE_OK) {
		ret = error_set(FURROW_EINVAL, "%s: not an http:// or https:// URL curl accepts", url);
		goto out;
	}
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(c, CURLOPT_CAINFO, HTTP_CA_BUNDLE);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "furrow/" FURROW_VERSION);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);

	rc = curl_easy_perform(c);
	if (rc == CURLE_WRITE_ERROR && out->truncated)
		rc = CURLE_OK;
	if (rc != CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
		if (rc == CURLE_OPERATION_TIMEDOUT)
			ret = error_set(FURROW_ETIMEOUT, "%s: no answer within %u ms",
					url, timeout_ms);
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
out:
	if (c)
		curl_easy_cleanup(c);
	if (ret < 0)
		http_response_release(out);
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
