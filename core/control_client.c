/*
 * control_client.c - the CLI side of the control socket: control_request()
 * (see control.h).  The line I/O it shares with the daemon side is in
 * control.c (control_int.h).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "control_int.h"
#include "error.h"
#include "limits.h"
#include "strbuf.h"
#include "banned.h"

/* Connect fd to sa before the deadline.  Returns 0, or -1 with errno. */
static int connect_by(int fd, const struct sockaddr_un *sa, long long deadline)
{
	int err;
	socklen_t len = sizeof(err);

	for (;;) {
		if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
			return 0;
		if (errno == EAGAIN) {
			/* The daemon's backlog is full: try again shortly. */
			if (control_now_ms() >= deadline) {
				errno = ETIMEDOUT;
				return -1;
			}
			poll(NULL, 0, 10);
			continue;
		}
		if (errno != EINPROGRESS && errno != EINTR)
			return -1;
		break;
	}
	if (control_wait_fd(fd, POLLOUT, deadline) <= 0)
		return -1;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return -1;
	errno = err;
	return err ? -1 : 0;
}

static int check_word(const char *what, const char *s)
{
	if (control_has_cntrl(s))
		return error_set(FURROW_EINVAL, "control request: %s must be "
				 "printable text on one line", what);
	return 0;
}

/* Connect to STATE_DIR/control.sock: 0 with *fd_out, or an error. */
static int dial(int *fd_out, const char *state_dir, long long deadline,
		unsigned timeout_ms)
{
	struct strbuf path = STRBUF_INIT;
	struct sockaddr_un sa;
	int fd = -1, ret;

	if ((ret = control_socket_addr(&sa, &path, state_dir)))
		goto out;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		ret = error_errno(FURROW_EIO, "cannot create a socket");
	else if (connect_by(fd, &sa, deadline) == 0)
		goto out;
	else if (errno == ENOENT)
		ret = error_set(FURROW_ENOENT, "no furrow daemon is running "
				"(no %s)", path.buf);
	else if (errno == ECONNREFUSED)
		ret = error_set(FURROW_ENOENT, "no furrow daemon is running "
				"(%s is stale: nobody listens on it)",
				path.buf);
	else if (errno == ETIMEDOUT)
		ret = error_set(FURROW_ETIMEOUT, "the furrow daemon did not "
				"take the connection within %u ms", timeout_ms);
	else if (errno == EACCES)
		ret = error_errno(FURROW_EIO, "cannot connect to %s (only root "
				  "and the daemon's user may)", path.buf);
	else
		ret = error_errno(FURROW_EIO, "cannot connect to %s", path.buf);
out:
	if (ret && fd >= 0)
		close(fd);
	else
		*fd_out = fd;
	strbuf_release(&path);
	return ret;
}

/* Read the one-line reply into reply and *ok. */
static int read_reply(int fd, long long deadline, unsigned timeout_ms,
		      struct strbuf *reply, int *ok)
{
	char buf[LIMIT_CONTROL_REPLY_BYTES + 1];

	switch (control_read_line(fd, buf, LIMIT_CONTROL_REPLY_BYTES,
				  deadline)) {
	case CONTROL_LINE_OK:
		break;
	case CONTROL_LINE_TIMEOUT:
		return error_set(FURROW_ETIMEOUT, "no reply from the furrow "
				 "daemon within %u ms", timeout_ms);
	case CONTROL_LINE_EOF:
		return error_set(FURROW_EIO, "the furrow daemon closed the "
				 "connection without a complete reply");
	case CONTROL_LINE_LONG:
		return error_set(FURROW_EIO, "the furrow daemon's reply is "
				 "longer than %u bytes",
				 LIMIT_CONTROL_REPLY_BYTES);
	case CONTROL_LINE_ERR:
		return error_errno(FURROW_EIO, "cannot read the furrow "
				   "daemon's reply");
	}
	if (!strcmp(buf, "ok") || !strncmp(buf, "ok ", 3)) {
		*ok = 1;
		strbuf_addstr(reply, buf[2] ? buf + 3 : "");
	} else if (!strcmp(buf, "error") || !strncmp(buf, "error ", 6)) {
		strbuf_addstr(reply, buf[5] ? buf + 6 : "");
	} else {
		return error_set(FURROW_EIO, "malformed reply from the furrow "
				 "daemon: \"%.80s\"", buf);
	}
	return 0;
}

int control_request(const char *state_dir, const char *verb, const char *arg,
		    unsigned timeout_ms, struct strbuf *reply, int *ok)
{
	struct strbuf line = STRBUF_INIT;
	long long deadline = control_now_ms() + timeout_ms;
	int fd = -1, ret;

	*ok = 0;
	strbuf_reset(reply);
	if (!*verb || strchr(verb, ' '))
		return error_set(FURROW_EINVAL, "control request: the command "
				 "must be one word");
	if ((ret = check_word("the command", verb)) ||
	    (arg && (ret = check_word("the argument", arg))))
		return ret;
	strbuf_addstr(&line, verb);
	if (arg && *arg)
		strbuf_addf(&line, " %s", arg);
	strbuf_addch(&line, '\n');
	if (line.len > LIMIT_CONTROL_LINE_BYTES) {
		ret = error_set(FURROW_ELIMIT, "control request is %zu bytes, "
				"more than %u (LIMIT_CONTROL_LINE_BYTES)",
				line.len, LIMIT_CONTROL_LINE_BYTES);
		goto out;
	}
	if ((ret = dial(&fd, state_dir, deadline, timeout_ms)))
		goto out;
	/* A daemon that turns us away may close before reading the
	 * request: read its reply even when sending failed. */
	if (control_send_all(fd, line.buf, line.len, deadline) < 0 &&
	    errno == ETIMEDOUT) {
		ret = error_set(FURROW_ETIMEOUT, "the furrow daemon did not "
				"take the request within %u ms", timeout_ms);
		goto out;
	}
	ret = read_reply(fd, deadline, timeout_ms, reply, ok);
out:
	if (fd >= 0)
		close(fd);
	strbuf_release(&line);
	return ret;
}
