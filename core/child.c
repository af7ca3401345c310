/*
 * child.c - isolated child processes (see child.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "error.h"
#include "fileutil.h"
#include "limits.h"
#include "banned.h"

#define NOBODY 65534

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

static void set_limit(int resource, rlim_t value)
{
	struct rlimit rl;

	/* Never raise: only lower, soft and hard together. */
	if (getrlimit(resource, &rl) == 0) {
		if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < value)
			value = rl.rlim_max;
		rl.rlim_cur = rl.rlim_max = value;
		(void)setrlimit(resource, &rl);
	}
}

/* In the child: give up what the work does not need.  Returns 0 or -1. */
static int confine(const struct child_limits *lim)
{
	if (geteuid() == 0) {
		if (setgroups(0, NULL) || setresgid(NOBODY, NOBODY, NOBODY) ||
		    setresuid(NOBODY, NOBODY, NOBODY))
			return -1;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -1;
	set_limit(RLIMIT_CPU, lim->milliseconds / 1000 + 1);
	set_limit(RLIMIT_NOFILE, lim->open_files ? lim->open_files :
		  LIMIT_CHILD_OPEN_FILES);
	set_limit(RLIMIT_FSIZE, lim->file_bytes);
	set_limit(RLIMIT_CORE, 0);
	if (!lim->threads)
		set_limit(RLIMIT_NPROC, 0);
#ifndef UNDER_ASAN
	/* The Lua heap cap is exact; this catches everything else. */
	if (lim->memory_bytes)
		set_limit(RLIMIT_AS, lim->memory_bytes + (256u << 20));
#endif
	return 0;
}

/* Close every descriptor from lowest up. */
static void close_from(int lowest)
{
	struct rlimit rl;

#ifdef SYS_close_range
	if (syscall(SYS_close_range, (unsigned)lowest, ~0u, 0u) == 0)
		return;
#endif
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
		rl.rlim_cur = 65536;
	for (rlim_t i = (rlim_t)lowest; i < rl.rlim_cur; i++)
		close((int)i);
}

static __attribute__((noreturn)) void child_main(int fd, pid_t parent,
						  child_fn fn, void *arg,
						  const struct child_limits *lim)
{
	struct strbuf out = STRBUF_INIT;
	unsigned char len[4];

	signal(SIGPIPE, SIG_DFL);
	/* Keep only the pipe: the parent's LMDB and lock descriptors have no
	 * business in an unprivileged child that talks to the network. */
	if (fd != 3) {
		if (dup2(fd, 3) < 0)
			_exit(125);
		fd = 3;
	}
	close_from(4);
	if (confine(lim))
		_exit(125);
	/* Die with the parent: an orphaned fetch must not run on after
	 * furrow was killed.  Set after confine(): changing uids clears it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (getppid() != parent)
		_exit(125);
	fn(&out, arg);
	len[0] = out.len & 0xff;
	len[1] = (out.len >> 8) & 0xff;
	len[2] = (out.len >> 16) & 0xff;
	len[3] = (out.len >> 24) & 0xff;
	if (out.len > UINT32_MAX || file_write_all(fd, len, 4) ||
	    file_write_all(fd, out.buf, out.len))
		_exit(124);
	_exit(0);
}

static long ms_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t0->tv_sec) * 1000 +
	       (now.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Read the length-prefixed reply before the deadline.  0, or an error. */
static int read_reply(int fd, struct strbuf *out, const char *what,
		      const struct child_limits *lim, const struct timespec *t0)
{
	size_t want = SIZE_MAX;
	char buf[65536];

	for (;;) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		long left = (long)lim->milliseconds - ms_since(t0);
		ssize_t n;
		int rc;

		if (out->len >= 4 && want == SIZE_MAX) {
			const unsigned char *p = (const unsigned char *)out->buf;

			want = (size_t)p[0] | (size_t)p[1] << 8 |
			       (size_t)p[2] << 16 | (size_t)p[3] << 24;
			if (want > lim->output_bytes)
				return error_set(FURROW_ELIMIT, "%s: result of %zu "
						 "bytes, more than the limit of %zu",
						 what, want, lim->output_bytes);
			want += 4;
		}
		if (out->len == want)
			return 0;
		if (left <= 0)
			return error_set(FURROW_ELIMIT, "%s: time limit of %u ms "
					 "exceeded", what, lim->milliseconds);
		rc = poll(&pfd, 1, (int)left);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return error_errno(FURROW_EIO, "%s: poll", what);
		if (rc == 0)
			continue;
		n = read(fd, buf, want == SIZE_MAX ? 4 - out->len :
			 (want - out->len < sizeof(buf) ? want - out->len :
			  sizeof(buf)));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return error_errno(FURROW_EIO, "%s: read", what);
		if (n == 0)
			return 1; /* EOF early: the exit status says why */
		strbuf_add(out, buf, (size_t)n);
	}
}

int child_run(struct strbuf *out, const char *what, child_fn fn, void *arg,
	      const struct child_limits *limits)
{
	struct timespec t0;
	int fds[2], status = 0, ret;
	pid_t pid, parent;

	strbuf_reset(out);
	if (pipe2(fds, O_CLOEXEC))
		return error_errno(FURROW_EIO, "%s: pipe", what);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	parent = getpid();
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return error_errno(FURROW_EIO, "%s: fork", what);
	}
	if (pid == 0) {
		close(fds[0]);
		child_main(fds[1], parent, fn, arg, limits);
	}
	close(fds[1]);
	ret = read_reply(fds[0], out, what, limits, &t0);
	close(fds[0]);
	if (ret)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (ret < 0)
		return ret;
	if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);

		if (sig == SIGXCPU || sig == SIGKILL)
			return error_set(FURROW_ELIMIT, "%s: CPU time limit "
					 "exceeded", what);
		if (sig == SIGXFSZ)
			return error_set(FURROW_ELIMIT, "%s: file size limit of "
					 "%zu bytes exceeded", what,
					 limits->file_bytes);
		return error_set(FURROW_ERR, "%s: child process killed by "
				 "signal %d (%s)", what, sig, strsignal(sig));
	}
	if (ret > 0 || WEXITSTATUS(status) != 0) {
		int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;

		return error_set(code == 125 ? FURROW_EIO : FURROW_ERR,
				 "%s: %s (exit %d)", what, code == 125 ?
				 "cannot drop privileges" :
				 "child process ended without a result", code);
	}
	memmove(out->buf, out->buf + 4, out->len - 4);
	strbuf_setlen(out, out->len - 4);
	return 0;
}
