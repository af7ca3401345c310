/*
 * test_supervise.c - supervised services: start, identity, logs and
 * their rotation, stop and its escalation, the process group, survival
 * of the parent, re-adoption, pid reuse, environment, limits, user.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "limits.h"
#include "supervise.h"
#include "tap.h"

static char logdir[4096];

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* A fresh log directory for one case. */
static const char *new_logdir(const char *name)
{
	snprintf(logdir, sizeof(logdir), "%s/%s", tap_tmpdir(), name);
	mkdir(logdir, 0755);
	return logdir;
}

static void spec_init(struct supervise_spec *s, const char *const *argv,
		      const char *name)
{
	memset(s, 0, sizeof(*s));
	s->argv = argv;
	s->cwd = tap_tmpdir();
	s->log_dir = new_logdir(name);
	s->log_max_bytes = 1 << 20;
	s->log_keep = 2;
}

/* Contents of log_dir/file into buf ("" if missing). */
static const char *slurp(const char *dir, const char *file, char *buf,
			 size_t size)
{
	char path[4200];
	FILE *f;
	size_t n = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	buf[0] = '\0';
	f = fopen(path, "r");
	if (f) {
		n = fread(buf, 1, size - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return buf;
}

/* Wait up to ms for needle in dir/current.log. */
static int wait_log(const char *dir, const char *needle, long ms)
{
	static char buf[65536];
	long t0 = now_ms();

	do {
		if (strstr(slurp(dir, "current.log", buf, sizeof(buf)), needle))
			return 1;
		sleep_ms(10);
	} while (now_ms() - t0 < ms);
	return 0;
}

static int start_sh(struct proc_id *id, struct supervise_spec *s,
		    const char *script, const char *name)
{
	static const char *argv[4];

	argv[0] = "/bin/sh";
	argv[1] = "-c";
	argv[2] = script;
	argv[3] = NULL;
	spec_init(s, argv, name);
	return supervise_start(id, s);
}

static void test_run_and_log(void)
{
	struct supervise_spec s;
	struct proc_id id;
	int ret;

	ret = start_sh(&id, &s, "echo hello-out; echo hello-err >&2; "
		       "exec sleep 30", "run");
	is_int(ret, 0, "start: sh script");
	ok(id.pid > 0 && id.start_time > 0, "start: identity %d/%llu",
	   (int)id.pid, id.start_time);
	ok(supervise_alive(&id), "start: alive");
	is_int(supervise_poll(&id, NULL), 1, "poll: running");
	ok(wait_log(s.log_dir, "hello-out", 3000), "log: stdout lands");
	ok(wait_log(s.log_dir, "hello-err", 3000), "log: stderr lands");
	is_int(getpgid(id.pid), id.pid, "own process group");
	is_int(getsid(id.pid), id.pid, "own session");
	is_int(supervise_stop(&id, 2000), SUPERVISE_TERMINATED,
	       "stop: terminated");
	ok(!supervise_alive(&id), "stop: no longer alive");
	is_int(supervise_stop(&id, 100), SUPERVISE_GONE, "stop again: gone");
}

static void test_exit_and_poll(void)
{
	struct supervise_spec s;
	struct proc_id id;
	long t0 = now_ms();
	int st = 0, r;

	is_int(start_sh(&id, &s, "exit 7", "exit"), 0, "start: exits at once");
	while ((r = supervise_poll(&id, &st)) == 1 && now_ms() - t0 < 3000)
		sleep_ms(10);
	is_int(r, 0, "poll: ended");
	ok(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 7,
	   "poll: our child's exit status 7 (%d)", st);
}

static void test_rotation(void)
{
	struct supervise_spec s;
	struct proc_id id;
	char name[16], buf[4096];
	struct stat st;
	int files = 0, small = 1;

	/* 300 lines of 40 bytes (12000 bytes) into files of at most 1000 */
	{
		static const char *argv[] = { "/bin/sh", "-c",
			"i=0; while [ $i -lt 300 ]; do "
			"echo \"line $i 0123456789012345678901234567\"; "
			"i=$((i+1)); done; echo END", NULL };

		spec_init(&s, argv, "rotate2");
		s.log_max_bytes = 1000;
		s.log_keep = 3;
		is_int(supervise_start(&id, &s), 0, "rotation: start capped");
	}
	ok(wait_log(s.log_dir, "END", 5000), "rotation: END written");
	for (int k = 0; k <= 5; k++) {
		char path[4200];

		if (k == 0)
			snprintf(name, sizeof(name), "current.log");
		else
			snprintf(name, sizeof(name), "%d.log", k);
		snprintf(path, sizeof(path), "%s/%s", s.log_dir, name);
		if (stat(path, &st) == 0) {
			files++;
			if (st.st_size > 1000)
				small = 0;
		}
	}
	is_int(files, 4, "rotation: current.log + 3 kept");
	ok(small, "rotation: every file at most the cap");
	slurp(s.log_dir, "1.log", buf, sizeof(buf));
	ok(buf[0] && buf[strlen(buf) - 1] == '\n',
	   "rotation: files cut at line ends");
	supervise_stop(&id, 1000);
}

static void test_stop_term_trapped(void)
{
	struct supervise_spec s;
	struct proc_id id;

	is_int(start_sh(&id, &s, "trap 'echo got-term; exit 0' TERM; "
		       "echo ready; while :; do sleep 0.05; done", "trap"), 0,
	       "trap: start");
	ok(wait_log(s.log_dir, "ready", 3000), "trap: ready");
	is_int(supervise_stop(&id, 3000), SUPERVISE_TERMINATED,
	       "trap: ended by SIGTERM");
	ok(wait_log(s.log_dir, "got-term", 2000),
	   "trap: handler ran, its output logged");
}

static void test_stop_escalates(void)
{
	struct supervise_spec s;
	struct proc_id id;
	long t0;

	is_int(start_sh(&id, &s, "trap '' TERM; echo ready; "
		       "while :; do sleep 0.05; done", "ignore"), 0,
	       "ignore TERM: start");
	ok(wait_log(s.log_dir, "ready", 3000), "ignore TERM: ready");
	t0 = now_ms();
	is_int(supervise_stop(&id, 300), SUPERVISE_KILLED,
	       "ignore TERM: SIGKILL needed");
	ok(now_ms() - t0 < 3000, "ignore TERM: within the timeout (%ld ms)",
	   now_ms() - t0);
	ok(!supervise_alive(&id), "ignore TERM: gone");
}

/* A process that exists and is not a zombie (init may be slow to reap,
 * or not reap at all, in a container). */
static int proc_running(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

static void test_group(void)
{
	static char buf[65536];
	struct supervise_spec s;
	struct proc_id id;
	char *p;
	long gc = 0;

	is_int(start_sh(&id, &s, "sleep 1000 & echo \"gc=$!\"; wait",
			"group"), 0, "group: start");
	ok(wait_log(s.log_dir, "gc=", 3000), "group: grandchild started");
	p = strstr(slurp(s.log_dir, "current.log", buf, sizeof(buf)), "gc=");
	if (p)
		gc = strtol(p + 3, NULL, 10);
	ok(gc > 0 && kill((pid_t)gc, 0) == 0, "group: grandchild %ld runs", gc);
	is_int(supervise_stop(&id, 2000), SUPERVISE_TERMINATED, "group: stop");
	ok(gc > 0 && !proc_running((pid_t)gc), "group: grandchild gone");
}

static void test_adopt_and_reuse(void)
{
	struct supervise_spec s;
	struct proc_id id, kept, fake;

	is_int(start_sh(&id, &s, "exec sleep 30", "adopt"), 0, "adopt: start");
	/* Forget everything but the identity a restarted furrow reads. */
	kept = id;
	memset(&s, 0, sizeof(s));
	memset(&id, 0, sizeof(id));
	is_int(supervise_adopt(&kept), 1, "adopt: persisted identity alive");

	fake = kept;
	fake.start_time++;
	is_int(supervise_alive(&fake), 0, "reused pid: not alive");
	is_int(supervise_poll(&fake, NULL), 0, "reused pid: poll says ended");
	is_int(supervise_stop(&fake, 100), SUPERVISE_GONE,
	       "reused pid: stop signals nothing");
	is_int(supervise_alive(&kept), 1, "reused pid: real one untouched");
	is_int(supervise_stop(&kept, 2000), SUPERVISE_TERMINATED,
	       "adopt: stop");
}

static void test_outlives_parent(void)
{
	static const char *argv[] = { "/bin/sh", "-c", "exec sleep 30", NULL };
	struct supervise_spec s;
	struct proc_id id = { 0, 0 };
	int p[2], st;
	pid_t helper;
	ssize_t n;

	spec_init(&s, argv, "orphan");
	if (pipe(p))
		return;
	helper = fork();
	if (helper == 0) {
		close(p[0]);
		if (supervise_start(&id, &s) == 0)
			n = write(p[1], &id, sizeof(id));
		_exit(0);
	}
	close(p[1]);
	n = read(p[0], &id, sizeof(id));
	close(p[0]);
	waitpid(helper, &st, 0);
	is_int(n, sizeof(id), "orphan: helper started the service and exited");
	sleep_ms(100);
	ok(supervise_alive(&id), "orphan: service outlives its parent");
	is_int(supervise_poll(&id, &st), 1, "orphan: poll (not our child)");
	is_int(supervise_stop(&id, 2000), SUPERVISE_TERMINATED,
	       "orphan: stop");
	ok(!supervise_alive(&id), "orphan: gone");
}

static void test_env_and_limits(void)
{
	static char buf[65536];
	static char foo[] = "FOO", bar[] = "bar baz";
	struct appspec_pair env[] = { { foo, bar } };
	static const char *argv[] = { "/bin/sh", "-c",
		"env; echo \"nofile=$(ulimit -n)\"; echo DONE", NULL };
	struct supervise_spec s;
	struct proc_id id;

	setenv("SUPERVISE_LEAK", "1", 1);
	spec_init(&s, argv, "env");
	s.env = env;
	s.env_count = 1;
	s.limits.nofile = 77;
	is_int(supervise_start(&id, &s), 0, "env: start");
	ok(wait_log(s.log_dir, "DONE", 3000), "env: ran");
	slurp(s.log_dir, "current.log", buf, sizeof(buf));
	ok(strstr(buf, "FOO=bar baz\n") != NULL, "env: given variable");
	ok(strstr(buf, "PATH=/usr/bin:/bin\n") != NULL, "env: default PATH");
	ok(strstr(buf, "HOME=") != NULL, "env: HOME");
	ok(!strstr(buf, "SUPERVISE_LEAK"), "env: furrow's own not inherited");
	ok(strstr(buf, "nofile=77\n") != NULL, "limits: nofile applied");
	supervise_stop(&id, 1000);
}

static void test_errors(void)
{
	static const char *missing[] = { "./no-such-program", NULL };
	static const char *sh[] = { "/bin/sh", "-c", "true", NULL };
	struct supervise_spec s;
	struct proc_id id;

	spec_init(&s, missing, "err1");
	is_int(supervise_start(&id, &s), FURROW_ENOENT, "missing program");
	ok(strstr(error_message(), "execve") != NULL, "message: %s",
	   error_message());
	spec_init(&s, sh, "err2");
	s.user = "no-such-user-furrow";
	is_int(supervise_start(&id, &s), FURROW_EINVAL, "unknown user");
	spec_init(&s, sh, "err3");
	s.log_dir = "/nonexistent/furrow-logs";
	is_int(supervise_start(&id, &s), FURROW_ENOENT, "missing log dir");
	spec_init(&s, sh, "err4");
	s.cwd = "/nonexistent/furrow-slot";
	is_int(supervise_start(&id, &s), FURROW_ENOENT, "missing cwd");
	if (geteuid() != 0) {
		spec_init(&s, sh, "err5");
		s.user = "0";
		is_int(supervise_start(&id, &s), FURROW_EINVAL,
		       "not root: other user refused");
	}
}

static void test_user(void)
{
	static char buf[65536];
	static const char *argv[] = { "/bin/sh", "-c",
		"echo \"uid=$(id -u) gid=$(id -g)\"", NULL };
	struct supervise_spec s;
	struct proc_id id;

	if (geteuid() != 0) {
		tap_diag("skip: run as a user needs root");
		return;
	}
	spec_init(&s, argv, "user");
	s.user = "65534";
	s.cwd = "/";
	is_int(supervise_start(&id, &s), 0, "user: start as 65534");
	ok(wait_log(s.log_dir, "uid=", 3000), "user: ran");
	slurp(s.log_dir, "current.log", buf, sizeof(buf));
	ok(strstr(buf, "uid=65534 ") != NULL, "user: id -u is 65534 (%s)",
	   buf);
	supervise_stop(&id, 1000);
}

static void test_restart_delay(void)
{
	struct backoff b;
	double d;

	backoff_init(&b, LIMIT_SERVICE_BACKOFF_BASE, LIMIT_SERVICE_BACKOFF_CAP);
	for (int i = 0; i < 10; i++)
		d = supervise_restart_delay(&b, 0.5);
	ok(b.attempt == 10 && d <= LIMIT_SERVICE_BACKOFF_CAP,
	   "backoff: grows, capped");
	d = supervise_restart_delay(&b, LIMIT_SERVICE_STABLE_SECONDS);
	ok(b.attempt == 1 && d <= LIMIT_SERVICE_BACKOFF_BASE,
	   "backoff: reset after a stable run");
}

int main(void)
{
	/* First, while orphans still go to init: the service must not be
	 * this process's child for the test to mean anything. */
	test_outlives_parent();
	/* Then adopt the orphaned log writers of the later cases and reap
	 * them at the end: an init that does not reap (some containers)
	 * would keep them as zombies. */
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	test_run_and_log();
	test_exit_and_poll();
	test_rotation();
	test_stop_term_trapped();
	test_stop_escalates();
	test_group();
	test_adopt_and_reuse();
	test_env_and_limits();
	test_errors();
	test_user();
	test_restart_delay();
	sleep_ms(100);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	return tap_done();
}
