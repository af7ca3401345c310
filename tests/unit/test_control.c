/*
 * test_control.c - the control socket (core/control.c) over real unix
 * sockets in a scratch directory.  The daemon side runs in this process;
 * control_request() clients run in forked children that report back
 * through a pipe, and hostile clients are raw sockets driven by hand.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "error.h"
#include "limits.h"
#include "strbuf.h"
#include "tap.h"

static char state[512], sock[600];
static int raw_unterminated; /* raw replies that lacked their "\n" */

struct result {
	int ret, ok;
	char reply[LIMIT_CONTROL_REPLY_BYTES];
	char msg[512];
};

struct client {
	pid_t pid;
	int pipe;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* control_request() in a child, as uid (if >= 0), reporting on a pipe. */
static struct client spawn(const char *verb, const char *arg,
			   unsigned timeout_ms, int uid)
{
	struct client c = { -1, -1 };
	int p[2];

	if (pipe(p) < 0)
		return c;
	c.pid = fork();
	if (c.pid == 0) {
		struct strbuf reply = STRBUF_INIT;
		struct result r;

		close(p[0]);
		memset(&r, 0, sizeof(r));
		if (uid >= 0 && (setgid((gid_t)uid) || setuid((uid_t)uid)))
			_exit(2);
		r.ret = control_request(state, verb, arg, timeout_ms, &reply, &r.ok);
		snprintf(r.reply, sizeof(r.reply), "%s", reply.buf);
		snprintf(r.msg, sizeof(r.msg), "%s", error_message());
		_exit(write(p[1], &r, sizeof(r)) == sizeof(r) ? 0 : 3);
	}
	close(p[1]);
	c.pipe = p[0];
	return c;
}

static struct result finish(struct client c)
{
	struct result r;
	int status;

	memset(&r, 0, sizeof(r));
	r.ret = 999;
	if (read(c.pipe, &r, sizeof(r)) != sizeof(r))
		r.ret = 999;
	close(c.pipe);
	waitpid(c.pid, &status, 0);
	return r;
}

/* Wait (up to 5 s) for a client with a valid request. */
static int serve_one(int lfd, struct control_request *req)
{
	double end = now() + 5;
	int conn = -1;

	while (conn < 0 && now() < end) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };

		if (poll(&p, 1, 100) > 0 && control_accept(lfd, req, &conn) < 0)
			return -1;
	}
	return conn;
}

/* A raw client: connect to the socket (blocking), send data. */
static int raw_client(const char *data, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	if (strlen(sock) >= sizeof(sa.sun_path))
		exit(99);
	memcpy(sa.sun_path, sock, strlen(sock) + 1);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("raw connect");
		exit(99);
	}
	if (len && write(fd, data, len) != (ssize_t)len)
		perror("raw write");
	return fd;
}

/* Read the daemon's reply on a raw client, without its "\n" (counted
 * in raw_unterminated if missing), then close it. */
static const char *raw_reply(int fd)
{
	static char buf[LIMIT_CONTROL_REPLY_BYTES + 1];
	size_t len = 0;
	ssize_t n;

	while (len < sizeof(buf) - 1 &&
	       (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	if (len && buf[len - 1] == '\n')
		len--;
	else
		raw_unterminated++;
	buf[len] = '\0';
	close(fd);
	return buf;
}

/* Send line on a raw client; control_accept() must turn it away. */
static const char *rejected(int lfd, const char *line, size_t len)
{
	struct control_request req;
	int fd = raw_client(line, len), conn = 99;

	if (control_accept(lfd, &req, &conn) || conn != -1 || req.verb[0]) {
		tap_diag("not rejected: conn %d verb \"%s\"", conn, req.verb);
		if (conn >= 0)
			close(conn);
		close(fd);
		return "(accepted)";
	}
	return raw_reply(fd);
}

static void test_listen(int lfd)
{
	struct control_request req;
	struct stat st;
	int conn = 99;

	ok(lstat(sock, &st) == 0 && S_ISSOCK(st.st_mode), "control.sock is a socket");
	is_int(st.st_mode & 07777, 0600, "socket mode is 0600 under umask 0");
	ok(fcntl(lfd, F_GETFL) & O_NONBLOCK, "listening fd is non-blocking");
	ok(fcntl(lfd, F_GETFD) & FD_CLOEXEC, "listening fd is close-on-exec");
	is_int(control_accept(lfd, &req, &conn), 0, "accept with nobody waiting: 0");
	is_int(conn, -1, "... and no connection");
}

static void test_round_trips(int lfd)
{
	static const struct {
		const char *verb, *arg, *reply;
		int ok;
	} t[] = {
		{ "ping", NULL, "pong", 1 },
		{ "sync-now", "", "sync started", 1 },
		{ "rollback", "web-1.api_x", "rolled back", 1 },
		{ "rollback", "db", "rollback failed: no previous slot", 0 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct client c = spawn(t[i].verb, t[i].arg, 5000, -1);
		struct control_request req;
		struct result r;
		int conn = serve_one(lfd, &req);

		ok(conn >= 0, "%s: accepted", t[i].verb);
		is_str(req.verb, t[i].verb, "verb parsed");
		is_str(req.arg, t[i].arg ? t[i].arg : "", "arg parsed");
		is_int(control_reply(conn, t[i].ok, t[i].reply), 0, "reply sent");
		r = finish(c);
		is_int(r.ret, 0, "client got a reply");
		if (r.ret)
			tap_diag("%s", r.msg);
		is_int(r.ok, t[i].ok, "client sees ok/error");
		is_str(r.reply, t[i].reply, "client sees the text");
	}

	/* Newlines in a reply become spaces; an empty reply is "ok". */
	{
		struct client c = spawn("ping", NULL, 5000, -1);
		struct control_request req;
		int conn = serve_one(lfd, &req);
		struct result r;

		control_reply(conn, 0, "line one\nline two\r\n");
		r = finish(c);
		ok(r.ret == 0 && !r.ok, "multi-line error reply arrives as one line");
		is_str(r.reply, "line one line two  ", "newlines became spaces");
	}
	{
		struct client c = spawn("ping", NULL, 5000, -1);
		struct control_request req;
		int conn = serve_one(lfd, &req);
		struct result r;

		control_reply(conn, 1, NULL);
		r = finish(c);
		ok(r.ret == 0 && r.ok && !r.reply[0], "empty ok reply");
	}
}

static void test_rejects(int lfd)
{
	char big[LIMIT_CONTROL_LINE_BYTES + 100];
	const char *rep;
	double t0;
	int fd, conn = 99;
	struct control_request req;

	rep = rejected(lfd, "frobnicate\n", 11);
	ok(!strncmp(rep, "error unknown command \"frobnicate\"", 34),
	   "unknown verb rejected: %s", rep);
	rep = rejected(lfd, "rollback ../etc\n", 16);
	ok(!strncmp(rep, "error \"../etc\" is not an app name", 33),
	   "bad app name rejected: %s", rep);
	rep = rejected(lfd, "rollback Web\n", 13);
	ok(!strncmp(rep, "error ", 6), "upper-case app name rejected: %s", rep);
	rep = rejected(lfd, "rollback\n", 9);
	is_str(rep, "error rollback needs an app name", "rollback without an app");
	rep = rejected(lfd, "rollback web extra\n", 19);
	ok(!strncmp(rep, "error ", 6), "two arguments rejected: %s", rep);
	rep = rejected(lfd, "ping now\n", 9);
	is_str(rep, "error ping takes no argument", "ping with an argument");
	rep = rejected(lfd, "\n", 1);
	is_str(rep, "error empty request", "empty line");
	rep = rejected(lfd, "ping\033[2J\n", 9);
	ok(!strncmp(rep, "error request contains control", 30),
	   "control characters rejected: %s", rep);

	memset(big, 'a', sizeof(big));
	big[sizeof(big) - 1] = '\n';
	rep = rejected(lfd, big, sizeof(big));
	ok(!strncmp(rep, "error request longer than", 25),
	   "a line over LIMIT_CONTROL_LINE_BYTES: %s", rep);

	/* A last line without "\n" (client shut down writing) counts. */
	fd = raw_client("ping", 4);
	shutdown(fd, SHUT_WR);
	control_accept(lfd, &req, &conn);
	ok(conn >= 0 && !strcmp(req.verb, "ping"), "unterminated last line accepted");
	control_reply(conn, 1, "pong");
	is_str(raw_reply(fd), "ok pong", "... and answered");

	/* "\r\n" is allowed. */
	fd = raw_client("sync-now\r\n", 10);
	control_accept(lfd, &req, &conn);
	ok(conn >= 0 && !strcmp(req.verb, "sync-now"), "CRLF accepted");
	control_reply(conn, 1, "ok");
	raw_reply(fd);

	/* A silent client costs the daemon the read deadline at most. */
	fd = raw_client(NULL, 0);
	t0 = now();
	control_accept(lfd, &req, &conn);
	t0 = now() - t0;
	ok(conn == -1 && t0 < 4.0 && t0 > LIMIT_CONTROL_READ_MS / 1000.0 - 0.5,
	   "silent client dropped after %.2f s", t0);
	rep = raw_reply(fd);
	ok(!strncmp(rep, "error no request within", 23), "and told why: %s", rep);
	is_int(raw_unterminated, 0, "every reply ended with a newline");
}

static void test_client_errors(int *lfd)
{
	struct strbuf reply = STRBUF_INIT;
	char longdir[300];
	double t0;
	int okay, fd;

	/* Connected but never answered: the listener never accepts. */
	t0 = now();
	is_int(control_request(state, "ping", NULL, 300, &reply, &okay),
	       FURROW_ETIMEOUT, "no reply within timeout_ms: ETIMEOUT");
	t0 = now() - t0;
	ok(t0 >= 0.25 && t0 < 2.0, "timed out after %.2f s: %s", t0, error_message());
	{
		struct control_request req;
		int conn = 99;

		/* Drain the abandoned connection. */
		control_accept(*lfd, &req, &conn);
		if (conn >= 0)
			control_reply(conn, 1, "late");
	}
	/* Accepted, read, but never answered. */
	{
		struct client c = spawn("sync-now", NULL, 300, -1);
		struct control_request req;
		int conn = serve_one(*lfd, &req);
		struct result r = finish(c);

		is_int(r.ret, FURROW_ETIMEOUT, "accepted but unanswered: ETIMEOUT");
		is_int(control_reply(conn, 1, "too late"), FURROW_EIO,
		       "replying to a client that left: EIO");
		tap_diag("%s", error_message());
	}

	is_int(control_request(state, "two words", NULL, 100, &reply, &okay),
	       FURROW_EINVAL, "client: a verb with a space is refused");
	is_int(control_request(state, "rollback", "a\nping", 100, &reply, &okay),
	       FURROW_EINVAL, "client: an argument with a newline is refused");

	/* A stale socket: no one listens on it. */
	control_close(*lfd, NULL);
	is_int(control_request(state, "ping", NULL, 1000, &reply, &okay),
	       FURROW_ENOENT, "stale socket: ENOENT");
	tap_diag("%s", error_message());
	is_int(control_listen(lfd, state), 0, "listen replaces a stale socket");
	{
		struct client c = spawn("ping", NULL, 5000, -1);
		struct control_request req;
		int conn = serve_one(*lfd, &req);

		control_reply(conn, 1, "pong");
		ok(finish(c).ok, "the new socket answers");
	}

	control_close(*lfd, state);
	*lfd = -1;
	ok(access(sock, F_OK) < 0 && errno == ENOENT, "control_close removes the socket");
	is_int(control_request(state, "ping", NULL, 1000, &reply, &okay),
	       FURROW_ENOENT, "no daemon: ENOENT");
	ok(strstr(error_message(), "no furrow daemon is running") != NULL,
	   "message: %s", error_message());

	/* Something else at the path is refused and kept. */
	fd = open(sock, O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (fd >= 0)
		close(fd);
	is_int(control_listen(lfd, state), FURROW_EINVAL, "a regular file at the path: EINVAL");
	tap_diag("%s", error_message());
	ok(access(sock, F_OK) == 0, "the file is kept");
	unlink(sock);

	/* Paths that do not fit sun_path. */
	memset(longdir, 'd', sizeof(longdir) - 1);
	longdir[0] = '/';
	longdir[sizeof(longdir) - 1] = '\0';
	is_int(control_listen(&fd, longdir), FURROW_ELIMIT, "listen: long path: ELIMIT");
	tap_diag("%s", error_message());
	is_int(control_request(longdir, "ping", NULL, 100, &reply, &okay),
	       FURROW_ELIMIT, "request: long path: ELIMIT");
	strbuf_release(&reply);
}

static void test_peercred(int lfd)
{
	struct control_request req;
	struct client c;
	struct result r;
	int conn = 99;

	if (geteuid() != 0) {
		ok(1, "# SKIP peer credentials: not root");
		return;
	}
	chmod(tap_tmpdir(), 0711);
	chmod(state, 0711);
	/* Mode 0600 alone keeps nobody out. */
	c = spawn("ping", NULL, 2000, 65534);
	r = finish(c);
	is_int(r.ret, FURROW_EIO, "nobody cannot connect to a 0600 socket");
	tap_diag("%s", r.msg);

	/* Loosened by hand: SO_PEERCRED still refuses. */
	chmod(sock, 0666);
	c = spawn("sync-now", NULL, 5000, 65534);
	for (double end = now() + 5; now() < end;) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };

		if (poll(&p, 1, 100) > 0) {
			control_accept(lfd, &req, &conn);
			break;
		}
	}
	r = finish(c);
	is_int(conn, -1, "uid 65534 is not served");
	ok(r.ret == 0 && !r.ok, "client got an error reply (%d: %s)", r.ret, r.msg);
	is_str(r.reply, "permission denied", "... permission denied");
	chmod(sock, 0600);
	chmod(state, 0700);
	chmod(tap_tmpdir(), 0700);
}

int main(void)
{
	int lfd = -1;
	mode_t old;

	snprintf(state, sizeof(state), "%s/state", tap_tmpdir());
	snprintf(sock, sizeof(sock), "%s/%s", state, CONTROL_SOCKET);
	if (mkdir(state, 0700) < 0) {
		perror(state);
		return 99;
	}
	old = umask(0);
	is_int(control_listen(&lfd, state), 0, "listen");
	umask(old);
	test_listen(lfd);
	test_round_trips(lfd);
	test_rejects(lfd);
	test_peercred(lfd);
	test_client_errors(&lfd);
	return tap_done();
}
