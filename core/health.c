/*
 * health.c - see health.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "monoclock.h"
#include "bug.h"
#include "error.h"
#include "exec_busy.h"
#include "health.h"
#include "http.h"
#include "limits.h"
#include "banned.h"

/* Slice of a sleep between should_stop checks, and of a wait on an exec
 * check between looks at its exit. */
#define HEALTH_STOP_SLICE 0.25
#define HEALTH_EXEC_POLL_MS 20

static double env_now(const struct health_env *env)
{
	return env && env->now ? env->now(env->clock_arg) : monoclock_now();
}

static void env_sleep(const struct health_env *env, double s)
{
	struct timespec ts;

	if (env && env->sleep) {
		env->sleep(s, env->clock_arg);
		return;
	}
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

__attribute__((format(printf, 2, 3)))
static void set_unhealthy(struct health_result *out, const char *fmt, ...)
{
	va_list ap;

	out->state = HEALTH_UNHEALTHY;
	va_start(ap, fmt);
	vsnprintf(out->message, sizeof(out->message), fmt, ap);
	va_end(ap);
}

/* Milliseconds of a timeout in seconds, at least 1. */
static unsigned timeout_ms(double seconds)
{
	double ms = ceil(seconds * 1000.0);

	if (ms < 1)
		return 1;
	if (ms > LIMIT_APP_SECONDS * 1000.0)
		return (unsigned)(LIMIT_APP_SECONDS * 1000.0);
	return (unsigned)ms;
}

/* strerror(err) starting lower-case, to sit after a colon. */
static const char *os_error(char *buf, size_t size, int err)
{
	snprintf(buf, size, "%s", strerror(err));
	if (buf[0] >= 'A' && buf[0] <= 'Z')
		buf[0] = (char)(buf[0] - 'A' + 'a');
	return buf;
}

/* --- http -------------------------------------------------------------- */

static int probe_http(struct health_result *out, const struct appspec_health *h)
{
	struct http_response resp;
	int want = h->expect_status ? h->expect_status : 200;
	int ret;

	ret = http_get(&resp, h->http, timeout_ms(h->timeout),
		       LIMIT_HEALTH_BODY_BYTES);
	if (ret < 0) {
		/* The request did not get an answer: the app's failure. */
		set_unhealthy(out, "%s", error_message());
		error_clear();
		return 0;
	}
	if (resp.status != want) {
		if (resp.redirect)
			set_unhealthy(out, "%s: status %ld, want %d (redirect to %s not followed)",
				      h->http, resp.status, want, resp.redirect);
		else
			set_unhealthy(out, "%s: status %ld, want %d",
				      h->http, resp.status, want);
	} else if (h->body && !memmem(resp.body, resp.body_len, h->body,
				       strlen(h->body))) {
		if (resp.truncated)
			set_unhealthy(out, "%s: body does not contain \"%s\" in its first %u bytes",
				      h->http, h->body, LIMIT_HEALTH_BODY_BYTES);
		else
			set_unhealthy(out, "%s: body does not contain \"%s\"",
				      h->http, h->body);
	}
	http_response_release(&resp);
	return 0;
}

/* --- tcp --------------------------------------------------------------- */

/* Split "HOST:PORT" or "[V6]:PORT" into host and port; 0 or -1. */
static int split_hostport(const char *s, char *host, size_t hsize, char *port,
			  size_t psize)
{
	const char *colon;
	size_t hlen;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return -1;
		colon = close + 1;
		s++;
		hlen = (size_t)(close - s);
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -1;
		hlen = (size_t)(colon - s);
	}
	if (hlen == 0 || hlen >= hsize || strlen(colon + 1) == 0 ||
	    strlen(colon + 1) >= psize)
		return -1;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	snprintf(port, psize, "%s", colon + 1);
	return 0;
}

/* One non-blocking connect; 0 when connected, else an errno value
 * (ETIMEDOUT when the deadline passed). */
static int connect_one(const struct addrinfo *ai, double deadline)
{
	int fd, err = 0;
	socklen_t len = sizeof(err);

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    ai->ai_protocol);
	if (fd < 0)
		return errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		goto out;
	if (errno != EINPROGRESS) {
		err = errno;
		goto out;
	}
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		double left = deadline - monoclock_now();
		int n;

		if (left <= 0) {
			err = ETIMEDOUT;
			goto out;
		}
		n = poll(&p, 1, (int)ceil(left * 1000.0));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = errno;
			goto out;
		}
		if (n == 0)
			continue; /* the deadline check above ends it */
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		goto out;
	}
out:
	close(fd);
	return err;
}

static int probe_tcp(struct health_result *out, const struct appspec_health *h)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res = NULL, *ai;
	char host[LIMIT_APP_STRING_BYTES], port[16], buf[128];
	double deadline = monoclock_now() + h->timeout;
	int rc, err = 0;

	if (split_hostport(h->tcp, host, sizeof(host), port, sizeof(port)) < 0) {
		set_unhealthy(out, "%s: not HOST:PORT", h->tcp);
		return 0;
	}
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		set_unhealthy(out, "%s: %s", h->tcp, gai_strerror(rc));
		return 0;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		err = connect_one(ai, deadline);
		if (err == 0 || err == ETIMEDOUT)
			break;
	}
	freeaddrinfo(res);
	if (err == ETIMEDOUT)
		set_unhealthy(out, "%s: no connection within %g s", h->tcp,
			      h->timeout);
	else if (err)
		set_unhealthy(out, "%s: %s", h->tcp, os_error(buf, sizeof(buf), err));
	return 0;
}

/* --- exec -------------------------------------------------------------- */

/* Output made fit for one message line: control bytes become spaces,
 * trailing space is dropped. */
static void clean_output(char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			s[i] = ' ';
	while (len > 0 && s[len - 1] == ' ')
		len--;
	s[len] = '\0';
}

/* Reads what is there of fd into buf (up to cap), discarding the rest;
 * returns 1 at end of file or error, else 0. */
static int drain(int fd, char *buf, size_t *len, size_t cap)
{
	char chunk[4096];

	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno != EAGAIN;
		if (n == 0)
			return 1;
		if (*len < cap) {
			size_t take = (size_t)n < cap - *len ? (size_t)n : cap - *len;

			memcpy(buf + *len, chunk, take);
			*len += take;
		}
	}
}

/* An exec probe run by the caller's hook (inside a container). */
static int probe_exec_hook(struct health_result *out,
			   const struct appspec_health *h,
			   const struct health_env *env)
{
	char output[LIMIT_HEALTH_OUTPUT_BYTES + 1];
	int code = -1, ret;

	output[0] = 0;
	ret = env->exec(env->exec_arg, h->exec.argv,
			(unsigned)(h->timeout * 1000), &code, output,
			sizeof(output));
	if (ret < 0)
		return ret;
	if (code != 0) {
		out->state = HEALTH_UNHEALTHY;
		snprintf(out->message, sizeof(out->message), "%s: exit %d%s%.512s",
			 h->exec.argv[0], code, output[0] ? ": " : "", output);
	}
	return 0;
}

static int probe_exec(struct health_result *out, const struct appspec_health *h,
		      const struct health_env *env)
{
	char **argv = h->exec.argv;
	const char *name = argv[0];
	const char *dir = env ? env->slot_dir : NULL;
	char output[LIMIT_HEALTH_OUTPUT_BYTES + 1];
	size_t outlen = 0;
	double deadline;
	int pfd[2] = { -1, -1 };
	int devnull = -1, eof = 0, exited = 0, status = 0, ret = 0;
	siginfo_t si;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0) {
		ret = error_errno(FURROW_EIO, "health check %s: pipe", name);
		goto out;
	}
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull < 0) {
		ret = error_errno(FURROW_EIO, "health check %s: /dev/null", name);
		goto out;
	}
	deadline = monoclock_now() + h->timeout;
	pid = fork();
	if (pid < 0) {
		ret = error_errno(FURROW_EIO, "health check %s: fork", name);
		goto out;
	}
	if (pid == 0) {
		/* Only async-signal-safe calls from here to exec. */
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		setpgid(0, 0);
		if (dup2(devnull, 0) < 0 || dup2(pfd[1], 1) < 0 ||
		    dup2(pfd[1], 2) < 0)
			_exit(126);
		if (dir && chdir(dir) < 0) {
			static const char m[] = "cannot enter the slot directory\n";

			(void)!write(2, m, sizeof(m) - 1);
			_exit(126);
		}
		/* Like a shell: a bare name is looked up in PATH, a path
		 * with a slash is relative to the slot directory. */
		if (strchr(name, '/'))
			execve_waiting_busy(name, argv, environ);
		else
			execvp(name, argv);
		{
			static const char m[] = "cannot run it\n";

			(void)!write(2, m, sizeof(m) - 1);
		}
		_exit(127);
	}
	setpgid(pid, pid); /* whichever of the two runs first */
	close(pfd[1]);
	pfd[1] = -1;
	fcntl(pfd[0], F_SETFL, O_NONBLOCK);

	/* Until it exits: its output is read as it comes (so a chatty check
	 * cannot block on a full pipe).  Exit is seen with WNOWAIT so the
	 * zombie keeps the process group's id while the group is killed. */
	for (;;) {
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		double left;

		if (!eof)
			eof = drain(pfd[0], output, &outlen, LIMIT_HEALTH_OUTPUT_BYTES);
		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
		    si.si_pid == pid) {
			exited = 1;
			break;
		}
		left = deadline - monoclock_now();
		if (left <= 0)
			break;
		if (left * 1000.0 > HEALTH_EXEC_POLL_MS || eof)
			left = HEALTH_EXEC_POLL_MS / 1000.0;
		if (eof)
			poll(NULL, 0, (int)ceil(left * 1000.0));
		else
			poll(&p, 1, (int)ceil(left * 1000.0));
	}
	/* Whatever it left behind (or itself, on timeout) goes too. */
	kill(-pid, SIGKILL);
	if (!exited)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!eof)
		drain(pfd[0], output, &outlen, LIMIT_HEALTH_OUTPUT_BYTES);
	clean_output(output, outlen);

	if (!exited)
		set_unhealthy(out, "%s: no exit within %g s%s%s", name, h->timeout,
			      *output ? ": " : "", output);
	else if (WIFSIGNALED(status))
		set_unhealthy(out, "%s: killed by signal %d%s%s", name,
			      WTERMSIG(status), *output ? ": " : "", output);
	else if (WEXITSTATUS(status) != 0)
		set_unhealthy(out, "%s: exit %d%s%s", name, WEXITSTATUS(status),
			      *output ? ": " : "", output);
out:
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	if (devnull >= 0)
		close(devnull);
	return ret;
}

/* --- probe and wait ---------------------------------------------------- */

int health_probe(struct health_result *out, const struct appspec_health *h,
		 const struct health_env *env)
{
	int ret = 0;

	memset(out, 0, sizeof(*out));
	out->state = HEALTH_HEALTHY;
	out->attempts = 1;
	switch (h->kind) {
	case APPSPEC_HEALTH_NONE:
		break;
	case APPSPEC_HEALTH_HTTP:
		ret = probe_http(out, h);
		break;
	case APPSPEC_HEALTH_TCP:
		ret = probe_tcp(out, h);
		break;
	case APPSPEC_HEALTH_EXEC:
		if (h->exec.argc == 0 || !h->exec.argv || !h->exec.argv[0])
			BUG("health exec without argv");
		ret = env && env->exec ? probe_exec_hook(out, h, env) :
		      probe_exec(out, h, env);
		break;
	default:
		BUG("health kind %d", (int)h->kind);
	}
	if (ret < 0)
		set_unhealthy(out, "%s", error_message());
	if (out->state == HEALTH_UNHEALTHY)
		out->failures = 1;
	return ret;
}

/* Sleeps until `until` on env's clock, in slices, asking should_stop
 * between them; returns 1 if it said stop. */
static int wait_until(const struct health_env *env, double until,
		      int (*should_stop)(void *), void *arg)
{
	for (;;) {
		double left = until - env_now(env);

		if (left <= 0)
			return 0;
		if (should_stop && should_stop(arg))
			return 1;
		env_sleep(env, left < HEALTH_STOP_SLICE ? left : HEALTH_STOP_SLICE);
	}
}

int health_wait(struct health_result *out, const struct appspec_health *h,
		const struct health_env *env, int (*should_stop)(void *),
		void *arg)
{
	struct health_result one;
	double first_pass = -1, start, next;
	int in_a_row = 0;

	memset(out, 0, sizeof(*out));
	if (h->kind == APPSPEC_HEALTH_NONE) {
		out->state = HEALTH_HEALTHY;
		return 0;
	}
	for (;;) {
		if (should_stop && should_stop(arg)) {
			out->state = HEALTH_STOPPED;
			return 0;
		}
		start = env_now(env);
		health_probe(&one, h, env);
		error_clear();
		out->attempts++;
		if (one.state == HEALTH_HEALTHY) {
			in_a_row = 0;
			if (first_pass < 0)
				first_pass = start;
			if (start - first_pass >= h->settle) {
				out->state = HEALTH_HEALTHY;
				return 0;
			}
			next = start + h->interval;
			if (next > first_pass + h->settle)
				next = first_pass + h->settle;
		} else {
			out->failures++;
			in_a_row++;
			if (first_pass >= 0) {
				set_unhealthy(out, "failed %g s after passing, within settle %g s: %s",
					      start - first_pass, h->settle,
					      one.message);
				return 0;
			}
			if (in_a_row > h->retries) {
				set_unhealthy(out, "%s (%d failed checks in a row)",
					      one.message, in_a_row);
				return 0;
			}
			snprintf(out->message, sizeof(out->message), "%s",
				 one.message);
			next = start + h->interval;
		}
		if (wait_until(env, next, should_stop, arg)) {
			out->state = HEALTH_STOPPED;
			return 0;
		}
	}
}
