/*
 * gitsync_net.c - the network side of gitsync (see gitsync.h): a socket
 * stream with timeouts, URL and token rules, callbacks, one fetch.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bug.h"
#include "error.h"
#include "gitsync_int.h"
#include "limits.h"
#include "strbuf.h"
#include "banned.h"

/* libgit2 gives its stream constructor no payload, so the fetch in
 * progress on this thread is found here. */
__thread struct fetch_ctx *gs_active_ctx;

__attribute__((format(printf, 3, 4)))
static int ctx_fail(struct fetch_ctx *c, int code, const char *fmt, ...)
{
	va_list ap;

	/* The first failure is the cause; later ones are its echoes. */
	if (!c->err) {
		c->err = code;
		va_start(ap, fmt);
		vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
		va_end(ap);
	}
	git_error_set_str(GIT_ERROR_CALLBACK, c->msg);
	return GIT_EUSER;
}

/* ---- a plain socket stream with timeouts (libgit2 1.5 has none) ---- */

struct fstream {
	git_stream parent;
	char *host, *port;
	int fd;
};

/* Wait for events on the socket, bounded by the idle (or connect)
 * timeout and the fetch deadline.  0, or -1 with a libgit2 error set. */
static int fstream_wait(struct fstream *st, short events, unsigned limit_s,
			const char *what)
{
	struct fetch_ctx *c = gs_active_ctx;

	for (;;) {
		int64_t wait = (int64_t)limit_s * 1000, left;
		int deadline = 0, n;
		struct pollfd pfd = { .fd = st->fd, .events = events };

		if (c) {
			left = c->deadline_ms - gs_now_ms();
			if (left < wait) {
				wait = left > 0 ? left : 0;
				deadline = 1;
			}
		}
		n = poll(&pfd, 1, (int)wait);
		if (n > 0)
			return 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			git_error_set(GIT_ERROR_OS, "poll: %s", strerror(errno));
			return -1;
		}
		if (c && deadline) {
			ctx_fail(c, FURROW_ETIMEOUT,
				 "%s %s:%s: fetch deadline of %u s passed",
				 what, st->host, st->port, c->deadline_s);
			return -1;
		}
		if (c) {
			ctx_fail(c, FURROW_ETIMEOUT,
				 "%s %s:%s: nothing for %u s (timeout)",
				 what, st->host, st->port, limit_s);
			return -1;
		}
		git_error_set(GIT_ERROR_NET, "%s %s:%s: timed out", what,
			      st->host, st->port);
		return -1;
	}
}

static int fstream_connect(git_stream *stream)
{
	struct fstream *st = (struct fstream *)stream;
	struct fetch_ctx *c = gs_active_ctx;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL, *p;
	unsigned limit = c ? c->connect_s : LIMIT_GIT_CONNECT_SECONDS;
	int rc, last_errno = 0;

	rc = getaddrinfo(st->host, st->port, &hints, &ai);
	if (rc) {
		git_error_set(GIT_ERROR_NET, "cannot resolve %s: %s", st->host,
			      gai_strerror(rc));
		return -1;
	}
	for (p = ai; p; p = p->ai_next) {
		int fd = socket(p->ai_family,
				p->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
				p->ai_protocol);
		int soerr = 0;
		socklen_t len = sizeof(soerr);

		if (fd < 0) {
			last_errno = errno;
			continue;
		}
		st->fd = fd;
		if (connect(fd, p->ai_addr, p->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS) {
			if (fstream_wait(st, POLLOUT, limit, "connecting to") < 0) {
				close(fd);
				st->fd = -1;
				freeaddrinfo(ai);
				return -1;
			}
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 &&
			    soerr == 0)
				break;
			last_errno = soerr ? soerr : errno;
		} else {
			last_errno = errno;
		}
		close(fd);
		st->fd = -1;
	}
	freeaddrinfo(ai);
	if (st->fd < 0) {
		git_error_set(GIT_ERROR_NET, "cannot connect to %s:%s: %s",
			      st->host, st->port,
			      strerror(last_errno ? last_errno : ECONNREFUSED));
		return -1;
	}
	/* TLS handshakes and HTTP requests go out as several small writes;
	 * with Nagle on, each waits for the peer's delayed ACK (~40 ms). */
	{
		int one = 1;

		(void)setsockopt(st->fd, IPPROTO_TCP, TCP_NODELAY, &one,
				 sizeof(one));
	}
	return 0;
}

static ssize_t fstream_read(git_stream *stream, void *data, size_t len)
{
	struct fstream *st = (struct fstream *)stream;
	struct fetch_ctx *c = gs_active_ctx;

	for (;;) {
		ssize_t n = recv(st->fd, data, len, 0);

		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			git_error_set(GIT_ERROR_NET, "receiving from %s: %s",
				      st->host, strerror(errno));
			return -1;
		}
		if (fstream_wait(st, POLLIN, c ? c->idle_s : LIMIT_GIT_IDLE_SECONDS,
				 "reading from") < 0)
			return -1;
	}
}

static ssize_t fstream_write(git_stream *stream, const char *data, size_t len,
			     int flags)
{
	struct fstream *st = (struct fstream *)stream;
	struct fetch_ctx *c = gs_active_ctx;

	for (;;) {
		/* MSG_NOSIGNAL: a peer that hangs up must not kill furrow. */
		ssize_t n = send(st->fd, data, len, flags | MSG_NOSIGNAL);

		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			git_error_set(GIT_ERROR_NET, "sending to %s: %s",
				      st->host, strerror(errno));
			return -1;
		}
		if (fstream_wait(st, POLLOUT, c ? c->idle_s : LIMIT_GIT_IDLE_SECONDS,
				 "writing to") < 0)
			return -1;
	}
}

static int fstream_close(git_stream *stream)
{
	struct fstream *st = (struct fstream *)stream;

	if (st->fd >= 0)
		close(st->fd);
	st->fd = -1;
	return 0;
}

static void fstream_free(git_stream *stream)
{
	struct fstream *st = (struct fstream *)stream;

	fstream_close(stream);
	free(st->host);
	free(st->port);
	free(st);
}

int gs_stream_new(git_stream **out, const char *host, const char *port)
{
	struct fstream *st = xcalloc(1, sizeof(*st));

	st->parent.version = GIT_STREAM_VERSION;
	st->parent.connect = fstream_connect;
	st->parent.read = fstream_read;
	st->parent.write = fstream_write;
	st->parent.close = fstream_close;
	st->parent.free = fstream_free;
	st->host = xstrdup(host);
	st->port = xstrdup(port ? port : "");
	st->fd = -1;
	*out = &st->parent;
	return 0;
}

/* ---- fetch ---- */

int gs_url_check(const struct gitsync_remote *r, enum gs_scheme *out)
{
	static const struct { const char *prefix; enum gs_scheme s; } schemes[] = {
		{ "https://", SCHEME_HTTPS }, { "http://", SCHEME_HTTP },
		{ "git://", SCHEME_GIT }, { "file://", SCHEME_FILE },
	};
	const char *url = r->url, *host = NULL;
	size_t n = url ? strlen(url) : 0;

	if (!n)
		return error_set(FURROW_EINVAL, "source url is empty");
	if (n > LIMIT_GIT_URL_BYTES)
		return error_set(FURROW_ELIMIT, "source url exceeds LIMIT_GIT_URL_BYTES (%u)",
				 (unsigned)LIMIT_GIT_URL_BYTES);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)url[i] <= ' ' || url[i] == 0x7f)
			return error_set(FURROW_EINVAL,
					 "source url has spaces or control characters");
	if (url[0] == '/') {
		*out = SCHEME_PATH;
		return 0;
	}
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
		if (!strncmp(url, schemes[i].prefix, strlen(schemes[i].prefix))) {
			*out = schemes[i].s;
			host = url + strlen(schemes[i].prefix);
		}
	if (!host)
		return error_set(FURROW_EINVAL,
				 "source url %s: unsupported scheme (use https://, git://, file:// or an absolute path)",
				 url);
	if (*out == SCHEME_FILE)
		return 0;
	/* The URL ends up in logs and messages; secrets belong in token_file. */
	if (memchr(host, '@', strcspn(host, "/")))
		return error_set(FURROW_EINVAL,
				 "source url: credentials in the url are not allowed; use token_file");
	if (!*host || *host == '/')
		return error_set(FURROW_EINVAL, "source url %s: no host", url);
	if (*out == SCHEME_HTTP && !r->insecure)
		return error_set(FURROW_EINVAL,
				 "source url %s: plain http:// is refused (no TLS); set source.insecure to allow it",
				 url);
	return 0;
}

int gs_ref_check(const char *ref)
{
	int valid = 0;

	if (!ref || strncmp(ref, "refs/", 5) || strlen(ref) > LIMIT_GIT_REF_BYTES ||
	    git_reference_name_is_valid(&valid, ref) < 0 || !valid)
		return error_set(FURROW_EINVAL,
				 "source ref must be a full, valid ref name such as refs/heads/main");
	return 0;
}

/* Token: first line of the file, trailing blanks dropped.  Its content
 * never goes into a message. */
int gs_token_read(const char *path, char **out)
{
	struct strbuf sb = STRBUF_INIT;
	int rc;

	*out = NULL;
	if ((rc = strbuf_read_file(&sb, path, LIMIT_TOKEN_FILE_BYTES)) < 0)
		goto out;
	while (sb.len && (sb.buf[sb.len - 1] == '\n' || sb.buf[sb.len - 1] == '\r' ||
			  sb.buf[sb.len - 1] == ' ' || sb.buf[sb.len - 1] == '\t'))
		sb.len--;
	sb.buf[sb.len] = '\0';
	if (!sb.len || strlen(sb.buf) != sb.len) {
		rc = error_set(FURROW_EINVAL, "token file %s is empty or binary", path);
		goto out;
	}
	for (size_t i = 0; i < sb.len; i++)
		if ((unsigned char)sb.buf[i] < ' ' || sb.buf[i] == 0x7f) {
			rc = error_set(FURROW_EINVAL,
				       "token file %s: token has control characters", path);
			goto out;
		}
	*out = strbuf_detach(&sb, NULL);
out:
	if (sb.alloc)
		explicit_bzero(sb.buf, sb.alloc);
	strbuf_release(&sb);
	return rc;
}

static void progress_show(struct fetch_ctx *c, int final)
{
	int64_t t = gs_now_ms();

	if (!c->tty || (!final && t - c->last_print < 250))
		return;
	if (final && !c->printed)
		return;
	c->last_print = t;
	c->printed = 1;
	fprintf(stderr, "\rfetching: %u/%u objects, %.1f MiB%s",
		c->stats.received_objects, c->stats.total_objects,
		c->stats.received_bytes / 1048576.0, final ? "\n" : "");
}

static int ctx_check(struct fetch_ctx *c, const git_indexer_progress *s)
{
	if (s) {
		c->stats = *s;
		if (s->received_bytes > c->max_bytes)
			return ctx_fail(c, FURROW_ELIMIT,
					"pack exceeds LIMIT_GIT_PACK_BYTES (%llu bytes)",
					(unsigned long long)c->max_bytes);
		if (s->total_objects > c->max_objects)
			return ctx_fail(c, FURROW_ELIMIT,
					"pack of %u objects exceeds LIMIT_GIT_PACK_OBJECTS (%u)",
					s->total_objects, c->max_objects);
	}
	if (gs_now_ms() > c->deadline_ms)
		return ctx_fail(c, FURROW_ETIMEOUT, "fetch deadline of %u s passed",
				c->deadline_s);
	progress_show(c, 0);
	return 0;
}

int gs_on_transfer(const git_indexer_progress *stats, void *payload)
{
	return ctx_check(payload, stats);
}

static int on_sideband(const char *str, int len, void *payload)
{
	(void)str;
	(void)len;
	return ctx_check(payload, NULL);
}

/* Same scheme, host and port as the configured URL: the token goes
 * nowhere else, whatever redirects libgit2 may meet. */
static int same_origin(const char *a, const char *b)
{
	const char *ha = strstr(a, "://"), *hb = strstr(b, "://");
	size_t la, lb;

	if (!ha || !hb)
		return 0;
	la = (size_t)(ha - a) + 3 + strcspn(ha + 3, "/");
	lb = (size_t)(hb - b) + 3 + strcspn(hb + 3, "/");
	return la == lb && !strncasecmp(a, b, la);
}

static int on_credentials(git_credential **out, const char *url,
			  const char *username_from_url, unsigned int allowed,
			  void *payload)
{
	struct fetch_ctx *c = payload;

	(void)username_from_url;
	if (!c->token)
		return ctx_fail(c, FURROW_EIO,
				"%s requires authentication and no token_file is set",
				c->url);
	if (c->auth_tries++)
		return ctx_fail(c, FURROW_EIO,
				"%s rejected the token from token_file", c->url);
	if (!(allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT))
		return ctx_fail(c, FURROW_EIO,
				"%s asks for an authentication method other than a token",
				c->url);
	if (!same_origin(url, c->url))
		return ctx_fail(c, FURROW_EIO,
				"refusing to send the token to another host");
	return git_credential_userpass_plaintext_new(out, c->user, c->token);
}

/* Map a libgit2 failure of a fetch step to a furrow error; *suspect is set
 * when the local repository may be at fault. */
static int fetch_fail(struct fetch_ctx *c, int lrc, const char *what,
		      int *suspect)
{
	int klass = gs_lg2_class();

	if (c->err)
		return error_set(c->err, "%s: %s", what, c->msg);
	if (lrc == GIT_EAUTH)
		return error_set(FURROW_EIO, "%s: authentication failed: %s", what,
				 gs_lg2_message());
	switch (klass) {
	case GIT_ERROR_NET: case GIT_ERROR_SSL: case GIT_ERROR_HTTP:
	case GIT_ERROR_OS: case GIT_ERROR_CALLBACK:
		return error_set(FURROW_EIO, "%s: %s", what, gs_lg2_message());
	default:
		*suspect = 1;
		return error_set(FURROW_ERR, "%s: %s", what, gs_lg2_message());
	}
}

int gs_fetch_once(struct gitsync *gs, const struct gitsync_remote *r,
		      struct fetch_ctx *c, struct gitsync_result *out,
		      int *suspect)
{
	git_remote *remote = NULL;
	git_remote_connect_options copts;
	git_fetch_options fopts;
	const git_remote_head **heads;
	size_t nheads, i;
	git_oid want, tip;
	struct strbuf spec = STRBUF_INIT;
	char *specp;
	git_strarray specs = { &specp, 1 };
	git_odb *odb = NULL;
	int rc = 0, lrc;

	*suspect = 0;
	memset(&c->stats, 0, sizeof(c->stats));
	c->err = 0;
	c->auth_tries = 0;
	if ((rc = gitsync_fetched(gs, out->previous)) == FURROW_ENOENT)
		rc = 0;
	else if (rc < 0) {
		*suspect = 1;
		goto out;
	}
	git_remote_connect_options_init(&copts, GIT_REMOTE_CONNECT_OPTIONS_VERSION);
	copts.callbacks.transfer_progress = gs_on_transfer;
	copts.callbacks.sideband_progress = on_sideband;
	copts.callbacks.credentials = on_credentials;
	copts.callbacks.payload = c;
	/* libgit2 1.5 would resend credentials to a redirect's host. */
	copts.follow_redirects = GIT_REMOTE_REDIRECT_NONE;
	if ((lrc = git_remote_create_anonymous(&remote, gs->repo, r->url)) < 0 ||
	    (lrc = git_remote_connect_ext(remote, GIT_DIRECTION_FETCH, &copts)) < 0 ||
	    (lrc = git_remote_ls(&heads, &nheads, remote)) < 0) {
		rc = fetch_fail(c, lrc, r->url, suspect);
		goto out;
	}
	for (i = 0; i < nheads && strcmp(heads[i]->name, r->ref); i++)
		;
	if (i == nheads) {
		rc = error_set(FURROW_ENOENT, "%s has no ref %s", r->url, r->ref);
		goto out;
	}
	git_oid_cpy(&want, &heads[i]->oid);
	if (git_repository_odb(&odb, gs->repo) < 0) {
		rc = fetch_fail(c, -1, "object database", suspect);
		goto out;
	}
	/* Already here (nothing new, or a rollback to a commit we have):
	 * skip the download, still check completeness below. */
	if (!git_odb_exists(odb, &want)) {
		strbuf_addf(&spec, "+%s:%s", r->ref, GITSYNC_FETCHED_REF);
		specp = spec.buf;
		git_fetch_options_init(&fopts, GIT_FETCH_OPTIONS_VERSION);
		fopts.callbacks = copts.callbacks;
		fopts.follow_redirects = GIT_REMOTE_REDIRECT_NONE;
		fopts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
		fopts.prune = GIT_FETCH_NO_PRUNE;
		fopts.update_fetchhead = 0;
		if ((lrc = git_remote_download(remote, &specs, &fopts)) < 0) {
			rc = fetch_fail(c, lrc, r->url, suspect);
			goto out;
		}
		progress_show(c, 1);
	}
	git_remote_disconnect(remote);
	out->received_bytes = c->stats.received_bytes;
	out->received_objects = c->stats.received_objects;
	if ((rc = gs_peel_commit(gs, &want, &tip)) < 0) {
		*suspect = 1;
		goto out;
	}
	rc = gs_set_fetched(gs, &tip, out, suspect);
out:
	git_odb_free(odb);
	git_remote_free(remote);
	strbuf_release(&spec);
	return rc;
}

