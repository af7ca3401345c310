/*
 * supervise.c - supervised service processes (see supervise.h).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bug.h"
#include "error.h"
#include "exec_busy.h"
#include "fileutil.h"
#include "limits.h"
#include "supervise.h"
#include "banned.h"

#define DEFAULT_PATH "PATH=/usr/bin:/bin"
#define POLL_MS 10

/* What the service child reports when it fails before execve. */
struct start_failure {
	int stage;
	int err;
};

enum { STAGE_FD, STAGE_FORK_LOG, STAGE_PID_FILE, STAGE_CHDIR, STAGE_GROUPS,
       STAGE_GID, STAGE_UID, STAGE_EXEC };

static const char *const stage_names[] = {
	"set up descriptors", "fork the log writer", "write the pid file",
	"chdir", "setgroups", "setresgid", "setresuid", "execve",
};

/* The user a service runs as, resolved in furrow before the fork. */
struct run_as {
	int change;             /* 1: setgroups/setresgid/setresuid */
	uid_t uid;
	gid_t gid;
	gid_t groups[LIMIT_SERVICE_GROUPS];
	int ngroups;
	char home[LIMIT_PATH_BYTES];
};

/* ---- /proc/PID/stat ---- */

/* Read state (field 3), pgrp (field 5) and starttime (field 22).
 * 0, or -1 if the process does not exist or the file is malformed. */
static int read_stat(pid_t pid, char *state, pid_t *pgrp,
		     unsigned long long *start)
{
	char path[64], buf[1024], *p, *end;
	unsigned long long v = 0;
	ssize_t n;
	int fd, field;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* comm (field 2) may hold spaces and parentheses: skip to the last
	 * ')'. */
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return -1;
	p += 2;
	for (field = 3; field <= 22; field++) {
		while (*p == ' ')
			p++;
		if (!*p)
			return -1;
		if (field == 3 && state)
			*state = *p;
		if (field == 5 || field == 22) {
			errno = 0;
			v = strtoull(p, &end, 10);
			if (errno || end == p)
				return -1;
			if (field == 5 && pgrp)
				*pgrp = (pid_t)v;
			p = end;
		}
		while (*p && *p != ' ')
			p++;
	}
	if (start)
		*start = v;
	return 0;
}

/* 1: the pid is this process (zombie or not); 0: no process has the
 * pid; -1: another process has it now. */
static int identity(const struct proc_id *id, char *state)
{
	unsigned long long start;

	if (id->pid <= 0)
		return 0;
	if (read_stat(id->pid, state, NULL, &start))
		return 0;
	return start == id->start_time ? 1 : -1;
}

int supervise_alive(const struct proc_id *id)
{
	char state = 0;

	return identity(id, &state) == 1 && state != 'Z' && state != 'X';
}

int supervise_adopt(const struct proc_id *id)
{
	return supervise_alive(id);
}

/* 1 if some member of process group pgid is not a zombie.  kill(-pg, 0)
 * answers quickly when the group is empty; zombies count as members for
 * it, and an init that does not reap would keep them, so a group that
 * still has members is checked in /proc. */
static int group_live(pid_t pgid)
{
	struct dirent *de;
	DIR *d;
	int live = 0;

	if (kill(-pgid, 0) < 0 && errno == ESRCH)
		return 0;
	d = opendir("/proc");
	if (!d)
		return 1;
	while (!live && (de = readdir(d))) {
		char state = 0;
		pid_t pg = 0;
		char *end;
		long pid = strtol(de->d_name, &end, 10);

		if (*end || pid <= 0)
			continue;
		if (read_stat((pid_t)pid, &state, &pg, NULL) == 0 &&
		    pg == pgid && state != 'Z' && state != 'X')
			live = 1;
	}
	closedir(d);
	return live;
}

/* Reap the leader if it is our child and still this identity. */
static int reap(const struct proc_id *id, int *status)
{
	int st;

	if (identity(id, NULL) != 1)
		return 0;
	if (waitpid(id->pid, &st, WNOHANG) == id->pid) {
		if (status)
			*status = st;
		return 1;
	}
	return 0;
}

int supervise_poll(const struct proc_id *id, int *status)
{
	char state = 0;
	int st;
	pid_t r;

	if (status)
		*status = -1;
	if (identity(id, &state) != 1)
		return 0;
	r = waitpid(id->pid, &st, WNOHANG);
	if (r == id->pid) {
		if (status)
			*status = st;
		return 0;
	}
	if (r == 0)
		return 1;
	/* Not our child (adopted): only the identity tells. */
	return state != 'Z' && state != 'X';
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static long ms_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t0->tv_sec) * 1000 +
	       (now.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Wait until the group has no live member; reaps the leader on the way.
 * 1 if it emptied within ms, else 0. */
static int wait_group(const struct proc_id *id, unsigned ms)
{
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		reap(id, NULL);
		if (!group_live(id->pid))
			return 1;
		if (ms_since(&t0) >= (long)ms)
			return 0;
		sleep_ms(POLL_MS);
	}
}

/* Signal the group if it is still the service's: its leader is this
 * identity (even a zombie), or no process has the pid any more (a pid
 * number is not reused while it is a group's id).  0 or an error. */
static int signal_group(const struct proc_id *id, int sig, int *sent)
{
	*sent = 0;
	if (identity(id, NULL) < 0)
		return 0;
	if (kill(-id->pid, sig) == 0) {
		*sent = 1;
		return 0;
	}
	if (errno == ESRCH)
		return 0;
	return error_errno(FURROW_EIO, "service %d: kill(-%d, %s)",
			   (int)id->pid, (int)id->pid, strsignal(sig));
}

int supervise_stop(const struct proc_id *id, unsigned timeout_ms)
{
	int sent, ret;

	if (id->pid <= 0)
		return SUPERVISE_GONE;
	reap(id, NULL);
	/* A reused pid is not ours, and neither is its group. */
	if (identity(id, NULL) < 0 || !group_live(id->pid))
		return SUPERVISE_GONE;
	ret = signal_group(id, SIGTERM, &sent);
	if (ret)
		return ret;
	if (!sent)
		return SUPERVISE_GONE;
	if (wait_group(id, timeout_ms))
		return SUPERVISE_TERMINATED;
	ret = signal_group(id, SIGKILL, &sent);
	if (ret)
		return ret;
	if (wait_group(id, LIMIT_SERVICE_KILL_WAIT_MS))
		return SUPERVISE_KILLED;
	return error_set(FURROW_ETIMEOUT, "service %d: process group still "
			 "running %u ms after SIGKILL", (int)id->pid,
			 LIMIT_SERVICE_KILL_WAIT_MS);
}

double supervise_restart_delay(struct backoff *b, double ran_seconds)
{
	if (ran_seconds >= LIMIT_SERVICE_STABLE_SECONDS)
		backoff_reset(b);
	return backoff_next(b);
}

/* ---- in the children ---- */

/* Close every descriptor from lowest up, except keep (-1: none). */
static void close_except(int lowest, int keep)
{
	struct rlimit rl;
	rlim_t i;

#ifdef SYS_close_range
	if (keep < lowest) {
		if (syscall(SYS_close_range, (unsigned)lowest, ~0u, 0u) == 0)
			return;
	} else if ((keep == lowest ||
		    syscall(SYS_close_range, (unsigned)lowest,
			    (unsigned)keep - 1, 0u) == 0) &&
		   syscall(SYS_close_range, (unsigned)keep + 1, ~0u, 0u) == 0) {
		return;
	}
#endif
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
		rl.rlim_cur = 65536;
	for (i = (rlim_t)lowest; i < rl.rlim_cur; i++)
		if ((int)i != keep)
			close((int)i);
}

/* Default dispositions and an empty mask: furrow's signal set-up is not
 * the service's (ignored signals would survive execve). */
static void reset_signals(void)
{
	struct sigaction sa;
	sigset_t none;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (int s = 1; s < NSIG; s++)
		(void)sigaction(s, &sa, NULL);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
}

struct logw {
	int dir;                 /* log_dir */
	int fd;                  /* current.log, -1 if not open */
	unsigned long long size; /* of current.log */
	unsigned long long max;  /* 0: no rotation */
	unsigned keep;
};

static void log_open(struct logw *w)
{
	struct stat st;

	w->fd = openat(w->dir, "current.log",
		       O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	w->size = w->fd >= 0 && fstat(w->fd, &st) == 0 ?
		  (unsigned long long)st.st_size : 0;
}

/* current.log -> 1.log -> ... -> keep.log; the oldest falls off. */
static void log_rotate(struct logw *w)
{
	char from[32], to[32];

	if (w->fd >= 0)
		close(w->fd);
	if (w->keep == 0) {
		(void)unlinkat(w->dir, "current.log", 0);
	} else {
		for (unsigned k = w->keep; k > 1; k--) {
			snprintf(from, sizeof(from), "%u.log", k - 1);
			snprintf(to, sizeof(to), "%u.log", k);
			(void)renameat(w->dir, from, w->dir, to);
		}
		(void)renameat(w->dir, "current.log", w->dir, "1.log");
	}
	log_open(w);
}

/* Write p[0..len) into capped files.  A write error (a full disk) drops
 * output rather than stopping the reader: a service blocked on a full
 * pipe would be worse. */
static void log_write(struct logw *w, const char *p, size_t len)
{
	while (len) {
		size_t room, n = len;

		if (w->fd < 0)
			log_open(w);
		if (w->max) {
			room = w->size < w->max ? (size_t)(w->max - w->size) : 0;
			if (n > room) {
				/* Cut after the last newline that fits;
				 * without one, start a new file, and only an
				 * empty file takes a hard cut. */
				const char *nl = room ? memrchr(p, '\n', room) :
						 NULL;

				if (nl)
					n = (size_t)(nl - p) + 1;
				else if (w->size > 0)
					n = 0;
				else
					n = room;
			}
			if (n == 0) {
				log_rotate(w);
				continue;
			}
		}
		if (w->fd < 0 || file_write_all(w->fd, p, n) < 0)
			return;
		w->size += n;
		p += n;
		len -= n;
	}
}

/* The log writer: fd 0 is the pipe, fd 3 the log directory. */
static __attribute__((noreturn)) void log_main(unsigned long long max,
					       unsigned keep)
{
	struct logw w = { 3, -1, 0, max, keep };
	char buf[65536];

	/* Drain until every writer is gone: a stop's SIGTERM must not lose
	 * the service's last words.  SIGKILL still ends it. */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		ssize_t n = read(0, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		log_write(&w, buf, (size_t)n);
	}
	_exit(0);
}

static __attribute__((noreturn)) void fail(int status_fd, int stage)
{
	struct start_failure f = { stage, errno };

	(void)file_write_all(status_fd, (const char *)&f, sizeof(f));
	_exit(127);
}

static void set_limit(int resource, unsigned long long value)
{
	struct rlimit rl;

	if (!value || getrlimit(resource, &rl) != 0)
		return;
	/* Lower only: a hard limit below the request stays. */
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < value)
		value = rl.rlim_max;
	rl.rlim_cur = rl.rlim_max = (rlim_t)value;
	(void)setrlimit(resource, &rl);
}

/*
 * In the service child, before anything can fail later: record who it
 * is (pid and start time) in spec->pid_file, atomically.  The child does
 * this itself rather than furrow after the fork, so a furrow that dies
 * between fork() and recording the identity still leaves it on disk for
 * the next furrow to find: no orphan a restart cannot see.
 */
static int write_pid_file(const char *path, const char *tmp)
{
	unsigned long long start;
	char line[64];
	int fd, len, ok;

	if (read_stat(getpid(), NULL, NULL, &start))
		return -1;
	len = snprintf(line, sizeof(line), "%d %llu\n", (int)getpid(), start);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
		  0644);
	if (fd < 0)
		return -1;
	ok = file_write_all(fd, line, (size_t)len) == 0 && fsync(fd) == 0;
	if (close(fd) || !ok || rename(tmp, path))
		return -1;
	return 0;
}

static __attribute__((noreturn)) void service_main(
	int status_fd, int dir_fd, const struct supervise_spec *spec,
	const struct run_as *as, char *const *envp, const char *pid_tmp)
{
	int nul, lp[2], fd;
	pid_t logger;

	reset_signals();
	/* Own session and group; no PDEATHSIG (fork cleared it anyway):
	 * the service outlives furrow. */
	(void)setsid();
	(void)prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
	/* Make sure 0, 1, 2 are taken so that nothing below lands there. */
	while ((nul = open("/dev/null", O_RDWR)) >= 0 && nul < 3)
		;
	/* furrow may have run with stdio closed: move what we keep above 2
	 * before dup2() reuses 0, 1, 2. */
	if ((fd = fcntl(status_fd, F_DUPFD_CLOEXEC, 3)) < 0)
		_exit(127);
	status_fd = fd;
	if (nul < 0 || (dir_fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3)) < 0 ||
	    pipe(lp))
		fail(status_fd, STAGE_FD);
	logger = fork();
	if (logger < 0)
		fail(status_fd, STAGE_FORK_LOG);
	if (logger == 0) {
		if (dup2(lp[0], 0) < 0 || dup2(nul, 1) < 0 ||
		    dup2(nul, 2) < 0 || dup2(dir_fd, 3) < 0)
			_exit(126);
		close_except(4, -1);
		log_main(spec->log_max_bytes, spec->log_keep);
	}
	if (dup2(nul, 0) < 0 || dup2(lp[1], 1) < 0 || dup2(lp[1], 2) < 0)
		fail(status_fd, STAGE_FD);
	if (spec->pid_file && write_pid_file(spec->pid_file, pid_tmp))
		fail(status_fd, STAGE_PID_FILE);
	/* Only stdio and the close-on-exec status pipe reach the service. */
	close_except(3, status_fd);
	if (as->change) {
		if (setgroups((size_t)as->ngroups, as->groups))
			fail(status_fd, STAGE_GROUPS);
		if (setresgid(as->gid, as->gid, as->gid))
			fail(status_fd, STAGE_GID);
		if (setresuid(as->uid, as->uid, as->uid))
			fail(status_fd, STAGE_UID);
	}
	/* After dropping privileges: the service runs only where its user
	 * may. */
	if (chdir(spec->cwd))
		fail(status_fd, STAGE_CHDIR);
	/* Last, so that nothing above runs under them.  limits.cpu is a
	 * share of CPUs, which no rlimit expresses (RLIMIT_CPU is seconds
	 * of CPU time): ignored here. */
	set_limit(RLIMIT_AS, spec->limits.memory);
	set_limit(RLIMIT_NOFILE, (unsigned long long)spec->limits.nofile);
	set_limit(RLIMIT_NPROC, (unsigned long long)spec->limits.pids);
	execve_waiting_busy(spec->argv[0], (char *const *)spec->argv, envp);
	fail(status_fd, STAGE_EXEC);
}

/* ---- in furrow ---- */

static int parse_uid(const char *s, uid_t *uid)
{
	unsigned long long v;
	char *end;

	if (!*s || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > 4294967294ull)
		return -1;
	*uid = (uid_t)v;
	return 0;
}

static void set_home(struct run_as *as, const char *home)
{
	snprintf(as->home, sizeof(as->home), "%s",
		 home && *home == '/' ? home : "/");
}

/* Resolve spec->user (or furrow's own uid) before forking: errors are
 * reported here, and no passwd lookup happens in the child. */
static int resolve_user(struct run_as *as, const char *user)
{
	struct passwd *pw;
	uid_t uid;

	memset(as, 0, sizeof(*as));
	if (!user) {
		pw = getpwuid(geteuid());
		set_home(as, pw ? pw->pw_dir : NULL);
		return 0;
	}
	if (parse_uid(user, &uid) == 0) {
		pw = getpwuid(uid);
	} else {
		pw = getpwnam(user);
		if (!pw)
			return error_set(FURROW_EINVAL, "service user %s: no "
					 "such user", user);
		uid = pw->pw_uid;
	}
	as->uid = uid;
	/* A uid without a passwd entry gets the group of the same number,
	 * never root's group. */
	as->gid = pw ? pw->pw_gid : (gid_t)uid;
	set_home(as, pw ? pw->pw_dir : NULL);
	if (geteuid() != 0) {
		if (uid != geteuid())
			return error_set(FURROW_EINVAL, "service user %s: "
					 "furrow is not root and cannot run a "
					 "service as another user", user);
		return 0;
	}
	as->change = 1;
	as->ngroups = LIMIT_SERVICE_GROUPS;
	if (pw) {
		if (getgrouplist(pw->pw_name, as->gid, as->groups,
				 &as->ngroups) < 0)
			return error_set(FURROW_ELIMIT, "service user %s: more "
					 "than %d groups", user,
					 LIMIT_SERVICE_GROUPS);
	} else {
		as->groups[0] = as->gid;
		as->ngroups = 1;
	}
	return 0;
}

static int has_key(const struct supervise_spec *spec, const char *key)
{
	for (size_t i = 0; i < spec->env_count; i++)
		if (!strcmp(spec->env[i].key, key))
			return 1;
	return 0;
}

/* "KEY=VALUE" strings: spec->env, then PATH and HOME unless given.
 * Freed with free_env(). */
static char **build_env(const struct supervise_spec *spec,
			const struct run_as *as)
{
	char **envp = calloc(spec->env_count + 3, sizeof(*envp));
	size_t n = 0;

	if (!envp)
		BUG("out of memory");
	for (size_t i = 0; i < spec->env_count; i++) {
		if (asprintf(&envp[n++], "%s=%s", spec->env[i].key,
			     spec->env[i].value) < 0)
			BUG("out of memory");
	}
	if (!has_key(spec, "PATH") && !(envp[n++] = strdup(DEFAULT_PATH)))
		BUG("out of memory");
	if (!has_key(spec, "HOME") &&
	    asprintf(&envp[n++], "HOME=%s", as->home) < 0)
		BUG("out of memory");
	return envp;
}

static void free_env(char **envp)
{
	for (size_t i = 0; envp && envp[i]; i++)
		free(envp[i]);
	free(envp);
}

int supervise_start(struct proc_id *out, const struct supervise_spec *spec)
{
	struct start_failure f;
	struct run_as as;
	char **envp = NULL, *pid_tmp = NULL;
	int st[2] = { -1, -1 }, dir = -1, ret, status;
	size_t got = 0;
	pid_t pid;

	out->pid = 0;
	out->start_time = 0;
	if (!spec->argv || !spec->argv[0] || !*spec->argv[0])
		return error_set(FURROW_EINVAL, "service: empty exec");
	if (!spec->cwd || !spec->log_dir)
		return error_set(FURROW_EINVAL, "service %s: no working or log "
				 "directory", spec->argv[0]);
	ret = resolve_user(&as, spec->user);
	if (ret)
		return ret;
	dir = open(spec->log_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return error_errno(errno == ENOENT ? FURROW_ENOENT : FURROW_EIO,
				   "service log directory %s", spec->log_dir);
	envp = build_env(spec, &as);
	/* Built before the fork: no allocation in the child. */
	if (spec->pid_file && asprintf(&pid_tmp, "%s.tmp", spec->pid_file) < 0)
		BUG("out of memory");
	if (pipe2(st, O_CLOEXEC)) {
		ret = error_errno(FURROW_EIO, "service %s: pipe", spec->argv[0]);
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		ret = error_errno(FURROW_EIO, "service %s: fork", spec->argv[0]);
		goto out;
	}
	if (pid == 0) {
		close(st[0]);
		service_main(st[1], dir, spec, &as, envp, pid_tmp);
	}
	close(st[1]);
	st[1] = -1;
	/* End of file: execve succeeded (the pipe is close-on-exec and the
	 * log writer closed its copy); else the child says what failed. */
	while (got < sizeof(f)) {
		ssize_t n = read(st[0], (char *)&f + got, sizeof(f) - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got == sizeof(f)) {
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		errno = f.err;
		ret = error_errno(f.err == ENOENT ? FURROW_ENOENT : FURROW_EIO,
				  "service %s: %s", spec->argv[0],
				  f.stage >= 0 && f.stage <= STAGE_EXEC ?
				  stage_names[f.stage] : "start");
		goto out;
	}
	/* Our child: until reaped it stays readable, even as a zombie. */
	out->pid = pid;
	if (read_stat(pid, NULL, NULL, &out->start_time)) {
		ret = error_set(FURROW_EIO, "service %s: cannot read "
				"/proc/%d/stat", spec->argv[0], (int)pid);
		kill(-pid, SIGKILL);
		out->pid = 0;
		goto out;
	}
	ret = 0;
out:
	if (st[0] >= 0)
		close(st[0]);
	if (st[1] >= 0)
		close(st[1]);
	close(dir);
	free_env(envp);
	free(pid_tmp);
	return ret;
}

int supervise_read_pid_file(struct proc_id *out, const char *path)
{
	char buf[64];
	ssize_t n;
	int fd;

	out->pid = 0;
	out->start_time = 0;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT ? FURROW_ENOENT :
		       error_errno(FURROW_EIO, "%s", path);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return error_errno(FURROW_EIO, "%s", path);
	buf[n] = 0;
	if (supervise_parse_pid(out, buf))
		return error_set(FURROW_ESYNTAX, "%s: not a pid file", path);
	return 0;
}

int supervise_parse_pid(struct proc_id *out, const char *text)
{
	unsigned long long pid = 0, start = 0;
	const char *p = text;

	out->pid = 0;
	out->start_time = 0;
	/* "<pid> <start>\n", both decimal, nothing else: strict by hand
	 * rather than sscanf, which would take signs and blanks. */
	/* No leading zeros: one text per identity. */
	if (*p < '1' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++)
		if ((pid = pid * 10 + (unsigned)(*p - '0')) > 4194304)
			return -1;
	if (*p++ != ' ' || *p < '0' || *p > '9' || (p[0] == '0' &&
						     p[1] >= '0' && p[1] <= '9'))
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (start > (~0ull - 9) / 10)
			return -1;
		start = start * 10 + (unsigned)(*p - '0');
	}
	if (p[0] != '\n' || p[1] || pid <= 1)
		return -1;
	out->pid = (pid_t)pid;
	out->start_time = start;
	return 0;
}
