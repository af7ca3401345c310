/*
 * supervise.h - the process half of the `service` driver: processes that
 * `furrow run` supervises itself.
 *
 * Design.
 *
 *   furrow ──fork──> S: setsid(), fork ──> L  (log writer, a furrow fork)
 *                    │                     reads the pipe, writes
 *                    └─ execve(service)    log_dir/current.log, 1.log, ...
 *                       stdout+stderr ──pipe──┘
 *
 * S, the service, leads its own session and process group (pgid = its
 * pid), so furrow's terminal signals do not reach it and the whole group
 * can be signalled at once.  L is forked by S after setsid() and before
 * the execve, so it is in the same group; it is not exec'd (furrow is one
 * binary), keeps furrow's uid and rlimits (the service's limits are set
 * after the fork) and ignores SIGTERM, SIGINT and SIGHUP: on a stop it
 * drains the pipe until every writer is gone, then exits at end of file;
 * only the SIGKILL escalation cuts it short.
 *
 * Why a log-writer process rather than a file the service appends to:
 * a file opened by the service cannot be rotated from outside (copy and
 * truncate loses lines, rename leaves the service writing to the renamed
 * file), and a pipe read by furrow itself would break when furrow
 * restarts (crash, self-update) while the service keeps running.  The
 * pipe between S and L involves neither furrow nor its lifetime, so a
 * furrow restart loses no output, and L caps every file at log_max_bytes
 * (cut at the last newline that fits when there is one), keeping
 * current.log plus log_keep rotated files (1.log newest): at most
 * (log_keep + 1) * log_max_bytes bytes on disk.
 *
 * Nothing ties S or L to furrow's lifetime: no PR_SET_PDEATHSIG, every
 * descriptor except stdio closed, signal mask and dispositions reset.
 * When furrow dies they are re-parented (to init or a subreaper).
 *
 * Identity and re-adoption.  A pid alone can be reused; the pair (pid,
 * start time in clock ticks since boot, field 22 of /proc/PID/stat) cannot
 * within one boot.  The caller persists struct proc_id (LMDB, not here);
 * a restarted furrow re-adopts a service by calling supervise_alive() on
 * the stored identity: 1 means it is still running and must not be
 * started again; 0 means it is gone (or the pid now belongs to another
 * process) and the service is started anew.  Every signal furrow sends is
 * preceded by that identity check.  Because Linux does not hand out a
 * pid number while it is still some process group's id, the group of a
 * leader that has exited is still the service's group as long as it has
 * members.
 *
 * Reaping: while S is furrow's own child furrow must reap it;
 * supervise_poll() does that (waitpid WNOHANG) and falls back to the
 * identity check for an adopted service that is not furrow's child.
 *
 * Restart policy is the caller's loop: when supervise_poll() reports an
 * exit, wait supervise_restart_delay() seconds (core/backoff.h, reset
 * after a run of LIMIT_SERVICE_STABLE_SECONDS), then supervise_start().
 *
 * Limits of this design, on purpose: a process that leaves the group
 * (setsid, setpgid: a daemonizing service) escapes stop; RLIMIT_NPROC
 * counts every process of the service's uid, and is not enforced for
 * root; limits.cpu is not an rlimit (RLIMIT_CPU is CPU seconds, not a
 * share) and is ignored here; cgroups would do all three precisely.
 * Two services must not share a log_dir.
 */
#ifndef FURROW_SUPERVISE_H
#define FURROW_SUPERVISE_H

#include <stddef.h>
#include <sys/types.h>

#include "appspec.h"
#include "backoff.h"

/* Who a supervised process is, across furrow restarts. */
struct proc_id {
	pid_t pid;                     /* also its process group id */
	unsigned long long start_time; /* /proc/PID/stat field 22 */
};

struct supervise_spec {
	const char *const *argv;   /* NULL-terminated; argv[0] is a path,
	                              relative to cwd unless absolute (no
	                              PATH search) */
	const struct appspec_pair *env; /* the whole environment, plus
	                              PATH=/usr/bin:/bin and HOME (the user's
	                              home, else "/") unless env sets them */
	size_t env_count;
	const char *cwd;           /* working directory (the slot dir) */
	const char *user;          /* name or decimal uid; NULL: furrow's */
	struct appspec_limits limits; /* memory -> RLIMIT_AS, nofile ->
	                              RLIMIT_NOFILE, pids -> RLIMIT_NPROC;
	                              0: unchanged; cpu ignored */
	const char *log_dir;       /* existing directory for the logs */
	unsigned long long log_max_bytes; /* per file; 0: no rotation */
	unsigned log_keep;         /* rotated files kept besides current.log */
	const char *pid_file;      /* NULL, or where the service child writes
	                              "<pid> <start_time>\n" (temporary file
	                              and rename) before it execs: its
	                              identity survives a furrow that dies
	                              right after the fork */
};

/* How supervise_stop() found or left the process. */
enum supervise_end {
	SUPERVISE_GONE = 0,        /* not running when called (or pid reused) */
	SUPERVISE_TERMINATED = 1,  /* the group ended after SIGTERM */
	SUPERVISE_KILLED = 2,      /* SIGKILL was needed */
};

/*
 * Start spec as a supervised service (see the top of this file) and
 * store its identity in *out.  Returns 0 once the program has been
 * exec'd; FURROW_EINVAL for a bad spec or an unknown user, or a user
 * other than furrow's own when furrow is not root; FURROW_ENOENT when
 * cwd, log_dir or the program does not exist; FURROW_EIO for other
 * failures; each with a message.  A program that starts and exits at
 * once is a success: supervise_poll() reports its exit.
 */
int supervise_start(struct proc_id *out, const struct supervise_spec *spec);

/*
 * Read a pid file written by supervise_start() (spec->pid_file).
 * FURROW_ENOENT (no message) if there is none, FURROW_ESYNTAX for
 * anything but "<pid> <start_time>\n", FURROW_EIO otherwise.
 */
int supervise_read_pid_file(struct proc_id *out, const char *path);

/* Parse a pid file's text ("<pid> <start_time>\n", pid 2..4194304,
 * nothing else) into out: 0, or -1.  Exposed for the fuzz target. */
int supervise_parse_pid(struct proc_id *out, const char *text);

/*
 * 1 if a process with id->pid exists, is not a zombie, and started at
 * id->start_time; 0 otherwise (gone, exited, or the pid was reused).
 */
int supervise_alive(const struct proc_id *id);

/* Re-adoption after a furrow restart: supervise_alive() on the identity
 * persisted by the caller.  1: adopt it, do not start a duplicate. */
int supervise_adopt(const struct proc_id *id);

/*
 * Reap or check.  Returns 1 while running, 0 once it has ended; then
 * *status (if not NULL) is the wait status when furrow was the parent
 * and reaped it, else -1 (an adopted process whose status nobody can
 * know).
 */
int supervise_poll(const struct proc_id *id, int *status);

/*
 * Stop the service's process group: SIGTERM, then wait up to timeout_ms
 * for every non-zombie member to be gone, then SIGKILL and wait up to
 * LIMIT_SERVICE_KILL_WAIT_MS more.  Reaps the leader when it is furrow's
 * child.  Never signals a reused pid.  Returns an enum supervise_end, or
 * FURROW_ETIMEOUT (members survived SIGKILL, e.g. stuck in the kernel)
 * or FURROW_EIO (kill() refused), with a message.
 */
int supervise_stop(const struct proc_id *id, unsigned timeout_ms);

/*
 * Seconds to wait before restarting a service that ran ran_seconds:
 * the backoff starts over after a stable run of at least
 * LIMIT_SERVICE_STABLE_SECONDS.  b is set up by the caller with
 * backoff_init(b, LIMIT_SERVICE_BACKOFF_BASE, LIMIT_SERVICE_BACKOFF_CAP).
 */
double supervise_restart_delay(struct backoff *b, double ran_seconds);

#endif
