/*
 * control.c - the daemon side of the control socket (see control.h) and
 * the line I/O it shares with the CLI side, control_client.c
 * (control_int.h).
 *
 * Every descriptor here is non-blocking and every wait is a poll() with
 * a deadline on the monotonic clock, so neither side can be held up by
 * the other for longer than it chose: the daemon by
 * LIMIT_CONTROL_READ_MS per client, the CLI by its timeout_ms.  Sends
 * use MSG_NOSIGNAL: a peer that hung up is an error to report, not a
 * SIGPIPE.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "appname.h"
#include "control.h"
#include "control_int.h"
#include "error.h"
#include "limits.h"
#include "strbuf.h"
#include "banned.h"


/* --- line I/O with deadlines (control_int.h) --- */

long long control_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int control_wait_fd(int fd, short events, long long deadline)
{
	struct pollfd p = { .fd = fd, .events = events };

	for (;;) {
		long long left = deadline - control_now_ms();
		int n;

		if (left <= 0) {
			errno = ETIMEDOUT;
			return 0;
		}
		n = poll(&p, 1, left > 60000 ? 60000 : (int)left);
		if (n > 0)
			return 1;
		if (n < 0 && errno != EINTR)
			return -1;
	}
}

int control_send_all(int fd, const char *buf, size_t len, long long deadline)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (control_wait_fd(fd, POLLOUT, deadline) <= 0)
				return -1;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

enum control_line control_read_line(int fd, char *buf, size_t max,
				    long long deadline)
{
	size_t len = 0;

	buf[0] = '\0';
	while (len < max) {
		ssize_t n = recv(fd, buf + len, max - len, 0);
		char *nl;

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int w = control_wait_fd(fd, POLLIN, deadline);

			if (w == 0)
				return CONTROL_LINE_TIMEOUT;
			if (w < 0)
				return CONTROL_LINE_ERR;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return CONTROL_LINE_ERR;
		if (n == 0) {
			buf[len] = '\0';
			return CONTROL_LINE_EOF;
		}
		nl = memchr(buf + len, '\n', (size_t)n);
		len += (size_t)n;
		if (nl) {
			if (nl > buf && nl[-1] == '\r')
				nl--;
			*nl = '\0';
			return CONTROL_LINE_OK;
		}
	}
	return CONTROL_LINE_LONG;
}

int control_has_cntrl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

int control_socket_addr(struct sockaddr_un *sa, struct strbuf *path,
			const char *state_dir)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	strbuf_addf(path, "%s/%s", state_dir, CONTROL_SOCKET);
	if (path->len >= sizeof(sa->sun_path))
		return error_set(FURROW_ELIMIT, "control socket path %s is %zu "
				 "bytes; a unix socket address holds at most "
				 "%zu: use a shorter state directory",
				 path->buf, path->len,
				 sizeof(sa->sun_path) - 1);
	memcpy(sa->sun_path, path->buf, path->len + 1);
	return 0;
}

/* --- the daemon side --- */

int control_listen(int *fd_out, const char *state_dir)
{
	struct strbuf path = STRBUF_INIT;
	struct sockaddr_un sa;
	struct stat st;
	int fd = -1, ret, bound;
	mode_t old;

	*fd_out = -1;
	if ((ret = control_socket_addr(&sa, &path, state_dir)))
		goto out;
	if (lstat(path.buf, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			ret = error_set(FURROW_EINVAL, "%s exists and is "
					"not a socket; furrow will not remove "
					"it, move it away", path.buf);
			goto out;
		}
		if (unlink(path.buf) < 0 && errno != ENOENT) {
			ret = error_errno(FURROW_EIO, "cannot remove the stale "
					  "control socket %s", path.buf);
			goto out;
		}
	} else if (errno != ENOENT) {
		ret = error_errno(FURROW_EIO, "cannot stat %s", path.buf);
		goto out;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = error_errno(FURROW_EIO, "cannot create the control "
				  "socket");
		goto out;
	}
	/* The umask closes the window between bind() and chmod(). */
	old = umask(0177);
	bound = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (bound < 0) {
		ret = error_errno(FURROW_EIO, "cannot bind the control "
				  "socket %s", path.buf);
		goto out;
	}
	if (chmod(path.buf, 0600) < 0 ||
	    listen(fd, LIMIT_CONTROL_BACKLOG) < 0) {
		ret = error_errno(FURROW_EIO, "cannot listen on the control "
				  "socket %s", path.buf);
		unlink(path.buf);
		goto out;
	}
	*fd_out = fd;
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	strbuf_release(&path);
	return ret;
}

void control_close(int fd, const char *state_dir)
{
	struct strbuf path = STRBUF_INIT;
	struct sockaddr_un sa;
	struct stat st;

	if (fd >= 0)
		close(fd);
	if (state_dir && !control_socket_addr(&sa, &path, state_dir) &&
	    lstat(path.buf, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path.buf);
	strbuf_release(&path);
}

/* "ok text\n" or "error text\n" on fd; -1 with errno on failure. */
static int send_reply(int fd, int ok, const char *text)
{
	char buf[LIMIT_CONTROL_REPLY_BYTES];
	size_t len = (size_t)snprintf(buf, sizeof(buf), "%s",
				      ok ? "ok" : "error");
	size_t room, n = text ? strlen(text) : 0;

	if (n) {
		buf[len++] = ' ';
		room = sizeof(buf) - len - 1; /* the newline */
		if (n > room) {
			n = room;
			while (n && ((unsigned char)text[n] & 0xc0) == 0x80)
				n--; /* do not split a UTF-8 character */
		}
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)text[i];

			buf[len++] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
		}
	}
	buf[len++] = '\n';
	return control_send_all(fd, buf, len,
				control_now_ms() + LIMIT_CONTROL_READ_MS);
}

int control_reply(int conn_fd, int ok, const char *text)
{
	int ret = 0;

	if (conn_fd < 0)
		return error_set(FURROW_EINVAL, "control_reply: no connection");
	if (send_reply(conn_fd, ok, text) < 0)
		ret = error_errno(FURROW_EIO, "cannot send the reply to a "
				  "control client");
	close(conn_fd);
	return ret;
}

/* Turn a client away: best effort, it may be gone already. */
static void refuse(int fd, const char *why)
{
	send_reply(fd, 0, why);
	close(fd);
}

static const struct {
	const char *verb;
	int wants_app; /* 1: the argument is an app name; 0: no argument */
} control_verbs[] = {
	{ "ping",     0 },
	{ "sync-now", 0 },
	{ "rollback", 1 },
	{ "backup",   1 },
	{ "drill",    1 },
};

/* Parse line into req.  Returns 0, or -1 with why[] filled in. */
int control_parse_request(struct control_request *req, char *line,
			  char *why, size_t why_size)
{
	char *arg = strchr(line, ' ');
	size_t i, nverbs = sizeof(control_verbs) / sizeof(control_verbs[0]);

	if (!*line)
		return snprintf(why, why_size, "empty request"), -1;
	if (control_has_cntrl(line))
		return snprintf(why, why_size, "request contains control "
				"characters"), -1;
	if (arg)
		*arg++ = '\0';
	for (i = 0; i < nverbs; i++)
		if (!strcmp(line, control_verbs[i].verb))
			break;
	if (i == nverbs)
		return snprintf(why, why_size, "unknown command \"%.31s\" "
				"(known: ping, sync-now, rollback, backup, drill)", line), -1;
	if (!control_verbs[i].wants_app && arg)
		return snprintf(why, why_size, "%s takes no argument",
				control_verbs[i].verb), -1;
	if (control_verbs[i].wants_app && !arg)
		return snprintf(why, why_size, "%s needs an app name",
				control_verbs[i].verb), -1;
	if (arg && !app_name_valid(arg))
		return snprintf(why, why_size, "\"%.63s\" is not an app name "
				"([a-z0-9][a-z0-9_.-]{0,62})", arg), -1;
	/* Both short: a verb of the table, an app name of at most 63. */
	memcpy(req->verb, line, strlen(line) + 1);
	if (arg)
		memcpy(req->arg, arg, strlen(arg) + 1);
	return 0;
}

/* Only root and the daemon's own user may drive the daemon. */
static int peer_allowed(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
	    len != sizeof(cred))
		return 0;
	return cred.uid == 0 || cred.uid == geteuid();
}

int control_accept(int listen_fd, struct control_request *req, int *conn_fd)
{
	char line[LIMIT_CONTROL_LINE_BYTES + 1], why[160];
	int fd;

	*conn_fd = -1;
	memset(req, 0, sizeof(*req));
	fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		/* Nobody waiting, or a client that gave up before accept. */
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
		    errno == ECONNABORTED || errno == EPROTO)
			return 0;
		return error_errno(FURROW_EIO, "cannot accept a control "
				   "client");
	}
	if (!peer_allowed(fd)) {
		refuse(fd, "permission denied");
		return 0;
	}
	switch (control_read_line(fd, line, LIMIT_CONTROL_LINE_BYTES,
				  control_now_ms() + LIMIT_CONTROL_READ_MS)) {
	case CONTROL_LINE_OK:
	case CONTROL_LINE_EOF: /* a last line without "\n" still counts */
		break;
	case CONTROL_LINE_LONG:
		snprintf(why, sizeof(why), "request longer than %u bytes",
			 LIMIT_CONTROL_LINE_BYTES);
		refuse(fd, why);
		return 0;
	case CONTROL_LINE_TIMEOUT:
		snprintf(why, sizeof(why), "no request within %u ms",
			 LIMIT_CONTROL_READ_MS);
		refuse(fd, why);
		return 0;
	case CONTROL_LINE_ERR:
		close(fd);
		return 0;
	}
	if (control_parse_request(req, line, why, sizeof(why)) < 0) {
		memset(req, 0, sizeof(*req));
		refuse(fd, why);
		return 0;
	}
	*conn_fd = fd;
	return 0;
}
