/*
 * offsite.c - see offsite.h.
 */
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "http.h"
#include "offsite.h"
#include "strbuf.h"
#include "banned.h"

/* A name that maps to one file under the base on any server: lower-case
 * letters, digits and "/._-", relative, no empty, "." or ".." component
 * (nor ".." anywhere), bounded.  The message does not echo a name that
 * failed the character test. */
static int offsite_name_check(const char *name)
{
	size_t i, len = name ? strlen(name) : 0;

	if (!len)
		return error_set(FURROW_EINVAL, "offsite object name is empty");
	if (len > OFFSITE_NAME_BYTES)
		return error_set(FURROW_EINVAL, "offsite object name is %zu bytes, "
				 "over the limit of %d (OFFSITE_NAME_BYTES)",
				 len, OFFSITE_NAME_BYTES);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '/' || c == '.' || c == '_' || c == '-'))
			return error_set(FURROW_EINVAL, "offsite object name: byte "
					 "0x%02x at offset %zu is not one of "
					 "[a-z0-9/._-]", c, i);
	}
	if (name[0] == '/')
		return error_set(FURROW_EINVAL, "offsite object name \"%s\" starts "
				 "with \"/\": names are relative to the base URL",
				 name);
	if (strstr(name, ".."))
		return error_set(FURROW_EINVAL, "offsite object name \"%s\" has "
				 "\"..\"", name);
	if (strstr(name, "//") || name[len - 1] == '/' ||
	    !strcmp(name, ".") || !strncmp(name, "./", 2) ||
	    strstr(name, "/./") || (len >= 2 && !strcmp(name + len - 2, "/.")))
		return error_set(FURROW_EINVAL, "offsite object name \"%s\" has an "
				 "empty or \".\" component", name);
	return 0;
}

/* o->url joined with name by exactly one "/". */
static int offsite_url(struct strbuf *url, const struct offsite *o,
		       const char *name)
{
	size_t n;
	int ret;

	if ((ret = offsite_name_check(name)))
		return ret;
	if (!o->url || !*o->url)
		return error_set(FURROW_EINVAL, "offsite: no base URL");
	if (strpbrk(o->url, "?#"))
		return error_set(FURROW_EINVAL, "%s: an offsite base URL has no "
				 "query or fragment", o->url);
	n = strlen(o->url);
	while (n && o->url[n - 1] == '/')
		n--;
	strbuf_add(url, o->url, n);
	strbuf_addch(url, '/');
	strbuf_addstr(url, name);
	return 0;
}

static void offsite_options(struct http_post_options *ho,
			    const struct offsite *o, size_t max_body)
{
	memset(ho, 0, sizeof(*ho));
	ho->ca_file = o->ca_file;
	ho->token_file = o->token_file;
	ho->timeout_ms = o->timeout_ms;
	ho->idle_ms = OFFSITE_IDLE_MS;
	ho->max_body = max_body;
}

/* The error for a status other than the one wanted; what is "PUT" or
 * "GET".  The answer's body is not shown: it is the server's, and says
 * nothing a status does not. */
static int offsite_status(const char *url, const char *what,
			  const struct offsite *o, long status)
{
	if (status == 401 || status == 403) {
		if (!o->token_file)
			return error_set(FURROW_EINVAL, "%s: offsite target refused "
					 "the %s (HTTP %ld): it wants a token "
					 "(token_file)", url, what, status);
		return error_set(FURROW_EINVAL, "%s: offsite target refused the "
				 "token (HTTP %ld to %s)", url, status, what);
	}
	if (status >= 300 && status <= 399)
		return error_set(FURROW_EIO, "%s: %s answered HTTP %ld, a redirect "
				 "(not followed: set the URL it names)", url,
				 what, status);
	return error_set(FURROW_EIO, "%s: %s answered HTTP %ld", url, what, status);
}

/* "URL: what: ..." for a message http.c began with "URL: ". */
static int offsite_during(int code, const char *url, const char *what)
{
	char msg[FURROW_ERROR_MAX];
	size_t n = strlen(url);

	snprintf(msg, sizeof(msg), "%s", error_message());
	if (!strncmp(msg, url, n) && !strncmp(msg + n, ": ", 2))
		return error_set(code, "%s: %s: %s", url, what, msg + n + 2);
	return error_prefix(code, "%s", what);
}

/* The read-back of an object just stored: FURROW_EVERIFY unless it is
 * exactly data. */
static int offsite_verify(const char *url, const struct offsite *o,
			  const void *data, size_t len)
{
	struct http_post_options ho;
	struct http_response resp;
	const unsigned char *a = data, *b;
	size_t i;
	int ret;

	/* One byte more than was written would be one too many: the
	 * transfer stops there. */
	offsite_options(&ho, o, len);
	if ((ret = http_fetch(&resp, url, &ho)) < 0)
		return offsite_during(ret, url, "read-back GET");
	if (resp.status == 404 || resp.status == 410)
		ret = error_set(FURROW_EVERIFY, "%s: read-back found nothing (HTTP "
				"%ld) after the server accepted the PUT", url,
				resp.status);
	else if (resp.status != 200)
		ret = offsite_status(url, "the read-back GET", o, resp.status);
	else if (resp.truncated)
		ret = error_set(FURROW_EVERIFY, "%s: read-back is longer than the "
				"%zu bytes written", url, len);
	else if (resp.body_len != len)
		ret = error_set(FURROW_EVERIFY, "%s: read-back is %zu bytes, %zu "
				"were written", url, resp.body_len, len);
	else if (len && memcmp(resp.body, data, len)) {
		b = (const unsigned char *)resp.body;
		for (i = 0; a[i] == b[i]; i++)
			;
		ret = error_set(FURROW_EVERIFY, "%s: read-back differs from the "
				"%zu bytes written, first at byte %zu", url, len, i);
	}
	http_response_release(&resp);
	return ret;
}

int offsite_put(const struct offsite *o, const char *name, const void *data,
		size_t len)
{
	struct http_post_options ho;
	struct http_response resp;
	struct strbuf url = STRBUF_INIT;
	int ret;

	if ((ret = offsite_url(&url, o, name)))
		goto out;
	offsite_options(&ho, o, OFFSITE_ANSWER_BYTES);
	if ((ret = http_put(&resp, url.buf, data, len, &ho)) < 0) {
		offsite_during(ret, url.buf, "PUT");
		goto out;
	}
	if (resp.status < 200 || resp.status > 299)
		ret = offsite_status(url.buf, "PUT", o, resp.status);
	http_response_release(&resp);
	if (ret)
		goto out;
	ret = offsite_verify(url.buf, o, data, len);
out:
	strbuf_release(&url);
	return ret;
}

int offsite_get(const struct offsite *o, const char *name, struct strbuf *out,
		size_t max)
{
	struct http_post_options ho;
	struct http_response resp;
	struct strbuf url = STRBUF_INIT;
	int ret;

	strbuf_reset(out);
	if ((ret = offsite_url(&url, o, name)))
		goto out;
	offsite_options(&ho, o, max);
	if ((ret = http_fetch(&resp, url.buf, &ho)) < 0)
		goto out;
	if (resp.status == 404 || resp.status == 410)
		ret = error_set(FURROW_ENOENT, "%s: no such object (HTTP %ld)",
				url.buf, resp.status);
	else if (resp.status != 200)
		ret = offsite_status(url.buf, "GET", o, resp.status);
	else if (resp.truncated)
		ret = error_set(FURROW_ELIMIT, "%s: object is larger than the limit "
				"of %zu bytes", url.buf, max);
	else
		strbuf_add(out, resp.body, resp.body_len);
	http_response_release(&resp);
out:
	strbuf_release(&url);
	return ret;
}
