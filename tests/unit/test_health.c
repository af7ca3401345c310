/*
 * test_health.c - health probes against real servers on loopback (an
 * HTTP server and TCP listener forked by the test, /bin/sh scripts for
 * exec), and the wait's schedule on an injected clock.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "health.h"
#include "http.h"
#include "limits.h"
#include "tap.h"

/* --- a tiny HTTP server in a forked child ------------------------------ */

struct answer {
	int status;
	const char *body;
	const char *location; /* Location header, for redirects */
	size_t big;           /* >0: a body of this many 'x' then "MARKER" */
	int hang;             /* accept, read, never answer */
};

struct server {
	pid_t pid;
	int port;
};

static int listen_loopback(int *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 16) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		close(fd);
		return -1;
	}
	*port = ntohs(sa.sin_port);
	return fd;
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void serve_one(int c, const struct answer *a)
{
	char req[8192], head[1024];
	size_t got = 0;

	while (got < sizeof(req) - 1) {
		ssize_t n = read(c, req + got, sizeof(req) - 1 - got);

		if (n <= 0)
			break;
		got += (size_t)n;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	if (a->hang) {
		for (;;)
			pause();
	}
	if (a->big) {
		char chunk[4096];
		size_t left = a->big;

		snprintf(head, sizeof(head),
			 "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n", a->status, a->big + 6);
		write_all(c, head, strlen(head));
		memset(chunk, 'x', sizeof(chunk));
		while (left > 0) {
			size_t n = left < sizeof(chunk) ? left : sizeof(chunk);

			write_all(c, chunk, n);
			left -= n;
		}
		write_all(c, "MARKER", 6);
		return;
	}
	snprintf(head, sizeof(head),
		 "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n%s%s%s"
		 "Connection: close\r\n\r\n", a->status,
		 a->body ? strlen(a->body) : 0,
		 a->location ? "Location: " : "",
		 a->location ? a->location : "", a->location ? "\r\n" : "");
	write_all(c, head, strlen(head));
	if (a->body)
		write_all(c, a->body, strlen(a->body));
}

/* Serves request i with answers[min(i, n - 1)]. */
static struct server server_start(const struct answer *answers, size_t n)
{
	struct server s = { -1, 0 };
	int fd = listen_loopback(&s.port);

	if (fd < 0)
		return s;
	s.pid = fork();
	if (s.pid == 0) {
		signal(SIGPIPE, SIG_IGN);
		for (size_t i = 0;; i++) {
			int c = accept(fd, NULL, NULL);

			if (c < 0)
				_exit(1);
			serve_one(c, &answers[i < n ? i : n - 1]);
			shutdown(c, SHUT_WR);
			close(c);
		}
	}
	close(fd);
	return s;
}

static void server_stop(struct server *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
	}
	s->pid = -1;
}

/* --- an injected clock ---------------------------------------------- */

struct fake_clock {
	double t;
	double slept;
};

static double fake_now(void *arg)
{
	return ((struct fake_clock *)arg)->t;
}

static void fake_sleep(double s, void *arg)
{
	struct fake_clock *c = arg;

	c->t += s;
	c->slept += s;
}

static int stop_after(void *arg)
{
	int *left = arg;

	return (*left)-- <= 0;
}

/* --- helpers --------------------------------------------------------- */

static struct appspec_health http_check(char *url)
{
	struct appspec_health h = { .kind = APPSPEC_HEALTH_HTTP, .http = url,
				    .expect_status = 200, .interval = 2,
				    .timeout = 2, .retries = 3, .settle = 0 };
	return h;
}

static void write_script(const char *name, const char *body)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tap_tmpdir(), name);
	f = fopen(path, "w");
	if (!f)
		return;
	fprintf(f, "#!/bin/sh\n%s\n", body);
	fclose(f);
	chmod(path, 0755);
}

static long read_pid(const char *name)
{
	char path[512];
	long pid = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tap_tmpdir(), name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%ld", &pid) != 1)
		pid = -1;
	fclose(f);
	return pid;
}

/* A process is gone when it no longer exists or is a zombie waiting for
 * whoever adopted it. */
static int process_gone(long pid)
{
	for (int i = 0; i < 100; i++) {
		char path[64], buf[512];
		FILE *f;
		char *p;
		int zombie = 0;

		snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
		f = fopen(path, "r");
		if (!f)
			return 1;
		if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
			zombie = p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
		fclose(f);
		if (zombie)
			return 1;
		usleep(10000);
	}
	return 0;
}

static double wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --- tests ----------------------------------------------------------- */

static void test_http(void)
{
	static const struct answer good[] = { { 200, "status: all good", NULL, 0, 0 } };
	static const struct answer sick[] = { { 503, "down", NULL, 0, 0 } };
	static const struct answer moved[] = { { 302, "", "/elsewhere", 0, 0 } };
	static const struct answer hang[] = { { 0, NULL, NULL, 0, 1 } };
	static const struct answer big[] = { { 200, NULL, NULL, 1024 * 1024, 0 } };
	struct server s;
	struct health_result r;
	struct appspec_health h;
	char url[128], want[256];
	double t0;

	s = server_start(good, 1);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", s.port);
	h = http_check(url);
	is_int(health_probe(&r, &h, NULL), 0, "http: probe ran");
	is_int(r.state, HEALTH_HEALTHY, "http: 200 is healthy");
	is_str(r.message, "", "http: no message when healthy");
	h.body = (char *)"all good";
	health_probe(&r, &h, NULL);
	is_int(r.state, HEALTH_HEALTHY, "http: body match is healthy");
	h.body = (char *)"ready";
	health_probe(&r, &h, NULL);
	is_int(r.state, HEALTH_UNHEALTHY, "http: body mismatch is unhealthy");
	snprintf(want, sizeof(want), "%s: body does not contain \"ready\"", url);
	is_str(r.message, want, "http: body mismatch message");
	h.body = NULL;
	h.expect_status = 204;
	health_probe(&r, &h, NULL);
	snprintf(want, sizeof(want), "%s: status 200, want 204", url);
	is_str(r.message, want, "http: expect_status is honoured");
	server_stop(&s);

	s = server_start(sick, 1);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", s.port);
	h = http_check(url);
	health_probe(&r, &h, NULL);
	is_int(r.state, HEALTH_UNHEALTHY, "http: 503 is unhealthy");
	is_int(r.failures, 1, "http: one failure counted");
	snprintf(want, sizeof(want), "%s: status 503, want 200", url);
	is_str(r.message, want, "http: status mismatch message");
	server_stop(&s);

	s = server_start(moved, 1);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", s.port);
	h = http_check(url);
	health_probe(&r, &h, NULL);
	is_int(r.state, HEALTH_UNHEALTHY, "http: redirect is not followed");
	snprintf(want, sizeof(want),
		 "%s: status 302, want 200 (redirect to http://127.0.0.1:%d/elsewhere not followed)",
		 url, s.port);
	is_str(r.message, want, "http: redirect message names the target");
	h.expect_status = 302;
	health_probe(&r, &h, NULL);
	is_int(r.state, HEALTH_HEALTHY, "http: 302 itself may be expected");
	server_stop(&s);

	s = server_start(hang, 1);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", s.port);
	h = http_check(url);
	h.timeout = 0.4;
	t0 = wall();
	health_probe(&r, &h, NULL);
	ok(wall() - t0 < 2.0, "http: a silent server costs the timeout (%.2f s)",
	   wall() - t0);
	is_int(r.state, HEALTH_UNHEALTHY, "http: silent server is unhealthy");
	snprintf(want, sizeof(want), "%s: no answer within 400 ms", url);
	is_str(r.message, want, "http: timeout message");
	server_stop(&s);

	s = server_start(big, 1);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", s.port);
	{
		struct http_response resp;

		is_int(http_get(&resp, url, 5000, 1000), 0, "http_get: oversized body is no error");
		is_int(resp.status, 200, "http_get: status of the oversized answer");
		is_int(resp.body_len, 1000, "http_get: body capped at max_body");
		is_int(resp.truncated, 1, "http_get: truncated is set");
		is_int(resp.body[1000], '\0', "http_get: body NUL-terminated");
		http_response_release(&resp);
		http_response_release(NULL);
	}
	h = http_check(url);
	h.body = (char *)"MARKER";
	health_probe(&r, &h, NULL);
	is_int(r.state, HEALTH_UNHEALTHY, "http: text past the cap is not seen");
	snprintf(want, sizeof(want),
		 "%s: body does not contain \"MARKER\" in its first %u bytes",
		 url, LIMIT_HEALTH_BODY_BYTES);
	is_str(r.message, want, "http: capped body message");
	h.body = (char *)"xxxx";
	health_probe(&r, &h, NULL);
	is_int(r.state, HEALTH_HEALTHY, "http: text within the cap is seen");
	server_stop(&s);

	/* A port nobody listens on: bind one, then close it. */
	{
		int port, fd = listen_loopback(&port);

		close(fd);
		snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", port);
	}
	h = http_check(url);
	health_probe(&r, &h, NULL);
	is_int(r.state, HEALTH_UNHEALTHY, "http: refused is unhealthy");
	snprintf(want, sizeof(want), "%s: connection refused", url);
	is_str(r.message, want, "http: refused message");

	h = http_check((char *)"ftp://127.0.0.1/x");
	health_probe(&r, &h, NULL);
	is_int(r.state, HEALTH_UNHEALTHY, "http: other protocols refused");
	ok(strstr(r.message, "ftp://127.0.0.1/x: ") == r.message,
	   "http: protocol message names the URL: %s", r.message);
}

static void test_tcp(void)
{
	struct appspec_health h = { .kind = APPSPEC_HEALTH_TCP, .timeout = 1,
				    .interval = 1, .retries = 0 };
	struct health_result r;
	char addr[64], want[128];
	int port, fd = listen_loopback(&port);

	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	h.tcp = addr;
	health_probe(&r, &h, NULL);
	is_int(r.state, HEALTH_HEALTHY, "tcp: listener is healthy");
	snprintf(addr, sizeof(addr), "localhost:%d", port);
	health_probe(&r, &h, NULL);
	ok(r.state == HEALTH_HEALTHY, "tcp: a host name resolves (%s)", r.message);
	close(fd);

	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	health_probe(&r, &h, NULL);
	is_int(r.state, HEALTH_UNHEALTHY, "tcp: closed port is unhealthy");
	snprintf(want, sizeof(want), "127.0.0.1:%d: connection refused", port);
	is_str(r.message, want, "tcp: refused message");

	snprintf(addr, sizeof(addr), "[::1]:%d", port);
	health_probe(&r, &h, NULL);
	is_int(r.state, HEALTH_UNHEALTHY, "tcp: IPv6 form parsed, port closed");
	ok(strstr(r.message, "[::1]:") == r.message, "tcp: v6 message: %s", r.message);

	h.tcp = (char *)"no-port";
	health_probe(&r, &h, NULL);
	is_str(r.message, "no-port: not HOST:PORT", "tcp: malformed address");
}

static void test_exec(void)
{
	struct appspec_health h = { .kind = APPSPEC_HEALTH_EXEC, .timeout = 5,
				    .interval = 1, .retries = 0 };
	struct health_env env = { .slot_dir = tap_tmpdir() };
	struct health_result r;
	char *argv[3] = { NULL, NULL, NULL };
	char abs[512], big[64];
	long pid;
	double t0;

	write_script("ok.sh", "exit 0");
	write_script("fail.sh", "echo 'db down'; echo 'second line' >&2; exit 3");
	write_script("hang.sh", "sleep 30 & echo $! > grandchild.pid; sleep 30");
	write_script("leave.sh", "sleep 30 & echo $! > left.pid; exit 0");
	write_script("chatty.sh", "i=0; while [ $i -lt 2000 ]; do echo 0123456789abcdef; i=$((i+1)); done; exit 1");
	write_script("suicide.sh", "kill -9 $$");
	h.exec.argv = argv;
	h.exec.argc = 1;

	argv[0] = (char *)"./ok.sh";
	is_int(health_probe(&r, &h, &env), 0, "exec: probe ran");
	is_int(r.state, HEALTH_HEALTHY, "exec: exit 0 relative to slot_dir is healthy");

	snprintf(abs, sizeof(abs), "%s/ok.sh", tap_tmpdir());
	argv[0] = abs;
	health_probe(&r, &h, NULL);
	is_int(r.state, HEALTH_HEALTHY, "exec: absolute path without slot_dir");

	argv[0] = (char *)"true";
	health_probe(&r, &h, &env);
	is_int(r.state, HEALTH_HEALTHY, "exec: a bare name is found in PATH");

	argv[0] = (char *)"./fail.sh";
	health_probe(&r, &h, &env);
	is_int(r.state, HEALTH_UNHEALTHY, "exec: exit 3 is unhealthy");
	is_str(r.message, "./fail.sh: exit 3: db down second line",
	       "exec: message has exit code and output");

	argv[0] = (char *)"./missing.sh";
	health_probe(&r, &h, &env);
	is_str(r.message, "./missing.sh: exit 127: cannot run it",
	       "exec: missing program");

	argv[0] = (char *)"./suicide.sh";
	health_probe(&r, &h, &env);
	is_str(r.message, "./suicide.sh: killed by signal 9", "exec: killed by a signal");

	argv[0] = (char *)"./chatty.sh";
	health_probe(&r, &h, &env);
	is_int(r.state, HEALTH_UNHEALTHY, "exec: chatty check finished");
	snprintf(big, sizeof(big), "./chatty.sh: exit 1: 0123456789abcdef");
	ok(strncmp(r.message, big, strlen(big)) == 0, "exec: output start kept");
	ok(strlen(r.message) <= strlen("./chatty.sh: exit 1: ") + LIMIT_HEALTH_OUTPUT_BYTES,
	   "exec: output capped (%zu bytes)", strlen(r.message));

	argv[0] = (char *)"./hang.sh";
	h.timeout = 0.5;
	t0 = wall();
	health_probe(&r, &h, &env);
	ok(wall() - t0 < 2.5, "exec: hang stopped near the timeout (%.2f s)",
	   wall() - t0);
	is_str(r.message, "./hang.sh: no exit within 0.5 s", "exec: timeout message");
	pid = read_pid("grandchild.pid");
	ok(pid > 0 && process_gone(pid), "exec: the hung check's child is gone too");

	argv[0] = (char *)"./leave.sh";
	h.timeout = 5;
	t0 = wall();
	health_probe(&r, &h, &env);
	is_int(r.state, HEALTH_HEALTHY, "exec: exit 0 leaving a child is healthy");
	ok(wall() - t0 < 2.0, "exec: a leftover holding the pipe does not delay it");
	pid = read_pid("left.pid");
	ok(pid > 0 && process_gone(pid), "exec: what it left running is killed");
}

static void test_wait(void)
{
	static const struct answer steady[] = { { 200, "ok", NULL, 0, 0 } };
	static const struct answer flapping[] = { { 200, "ok", NULL, 0, 0 },
						  { 200, "ok", NULL, 0, 0 },
						  { 503, "no", NULL, 0, 0 },
						  { 200, "ok", NULL, 0, 0 } };
	static const struct answer slow_start[] = { { 503, "", NULL, 0, 0 },
						    { 503, "", NULL, 0, 0 },
						    { 503, "", NULL, 0, 0 },
						    { 200, "ok", NULL, 0, 0 } };
	static const struct answer sick[] = { { 500, "", NULL, 0, 0 } };
	struct fake_clock clk = { 1000, 0 };
	struct health_env env = { .now = fake_now, .sleep = fake_sleep,
				  .clock_arg = &clk };
	struct appspec_health h;
	struct health_result r;
	struct server s;
	char url[128], want[256];
	int left;

	h = http_check(NULL);
	h.kind = APPSPEC_HEALTH_NONE;
	health_wait(&r, &h, &env, NULL, NULL);
	is_int(r.state, HEALTH_HEALTHY, "wait: no check is healthy");
	is_int(r.attempts, 0, "wait: ... without a probe");

	/* Steady: probes at 0, 2, 4 and 5 (the window's end). */
	s = server_start(steady, 1);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", s.port);
	h = http_check(url);
	h.settle = 5;
	is_int(health_wait(&r, &h, &env, NULL, NULL), 0, "wait: returns 0");
	is_int(r.state, HEALTH_HEALTHY, "wait: steady app is healthy");
	is_int(r.attempts, 4, "wait: probes at 0, 2, 4, 5 s");
	ok(clk.slept == 5.0, "wait: verdict right at the end of settle (%g)", clk.slept);

	/* settle 0: the first pass is the verdict. */
	clk.slept = 0;
	h.settle = 0;
	health_wait(&r, &h, &env, NULL, NULL);
	is_int(r.attempts, 1, "wait: settle 0 needs one pass");
	ok(clk.slept == 0, "wait: ... and no sleep");

	/* should_stop ends the wait. */
	h.settle = 60;
	left = 3;
	health_wait(&r, &h, &env, stop_after, &left);
	is_int(r.state, HEALTH_STOPPED, "wait: should_stop ends it");
	server_stop(&s);

	/* Flapping: up at 0 and 2, down at 4, within settle 10. */
	s = server_start(flapping, 4);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", s.port);
	h = http_check(url);
	h.settle = 10;
	health_wait(&r, &h, &env, NULL, NULL);
	is_int(r.state, HEALTH_UNHEALTHY, "wait: flapping app is unhealthy");
	is_int(r.attempts, 3, "wait: ... at the first failure in settle");
	snprintf(want, sizeof(want),
		 "failed 4 s after passing, within settle 10 s: %s: status 503, want 200", url);
	is_str(r.message, want, "wait: flapping message");
	server_stop(&s);

	/* Slow start: three failures tolerated with retries 3. */
	s = server_start(slow_start, 4);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", s.port);
	h = http_check(url);
	h.retries = 3;
	h.settle = 0;
	health_wait(&r, &h, &env, NULL, NULL);
	is_int(r.state, HEALTH_HEALTHY, "wait: retries 3 tolerate three failures");
	is_int(r.attempts, 4, "wait: ... healthy at the fourth probe");
	is_int(r.failures, 3, "wait: ... after three failures");
	server_stop(&s);

	s = server_start(slow_start, 4);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", s.port);
	h = http_check(url);
	h.retries = 2;
	clk.slept = 0;
	health_wait(&r, &h, &env, NULL, NULL);
	is_int(r.state, HEALTH_UNHEALTHY, "wait: retries 2 give up at the third failure");
	is_int(r.attempts, 3, "wait: ... after three probes");
	ok(clk.slept == 4.0, "wait: ... one interval apart (%g)", clk.slept);
	snprintf(want, sizeof(want), "%s: status 503, want 200 (3 failed checks in a row)", url);
	is_str(r.message, want, "wait: retries message");
	server_stop(&s);

	s = server_start(sick, 1);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", s.port);
	h = http_check(url);
	h.retries = 0;
	health_wait(&r, &h, &env, NULL, NULL);
	is_int(r.attempts, 1, "wait: retries 0: the first failure decides");
	is_int(r.state, HEALTH_UNHEALTHY, "wait: ... unhealthy");
	server_stop(&s);

	/* The real clock and sleep, briefly. */
	{
		struct appspec_health t = { .kind = APPSPEC_HEALTH_EXEC,
					    .timeout = 1, .interval = 0.1,
					    .retries = 0, .settle = 0.25 };
		char *argv[] = { (char *)"true", NULL };
		double t0 = wall();

		t.exec.argv = argv;
		t.exec.argc = 1;
		health_wait(&r, &t, NULL, NULL, NULL);
		is_int(r.state, HEALTH_HEALTHY, "wait: real clock: healthy");
		ok(wall() - t0 >= 0.25 && wall() - t0 < 2.0,
		   "wait: real clock: settle waited (%.2f s)", wall() - t0);
	}
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	test_http();
	test_tcp();
	test_exec();
	test_wait();
	return tap_done();
}
