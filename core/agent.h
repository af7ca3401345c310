/*
 * agent.h - `furrow run`, the daemon: the apply engine (apply.h) on a
 * timer, with a control socket, signals and a service watch.
 *
 *   - A pass at start, then one every source.interval seconds, jittered
 *     by +-source.jitter of it so that a fleet does not fetch in step.
 *   - SIGHUP, or "sync-now" on the control socket (STATE_DIR/control.sock,
 *     mode 0600; `furrow sync --now`), runs a pass at once (or right after
 *     the one in progress).  "rollback APP" (`furrow rollback APP`) runs
 *     between passes and replies when done.
 *   - Between passes, every second, the supervised services are watched:
 *     one that exited is started again after supervise_restart_delay()
 *     (backoff that resets after a stable run), recorded as a restart.
 *   - SIGTERM or SIGINT: the pass in progress finishes its current step
 *     (an update not yet switched is rolled back, one switched is
 *     completed), then the daemon exits 0.  Services keep running: they
 *     do not depend on furrow, and the next furrow re-adopts them.
 *   - Readiness: if NOTIFY_SOCKET is set (systemd Type=notify), READY=1
 *     is sent after the first pass, STOPPING=1 on the way out.
 *
 * The pass runs on its own thread so that the control socket answers
 * while a long health check is in progress; the store is only ever used
 * by one of the two threads at a time (a pass, or the main thread's
 * watch and rollbacks between passes).
 */
#ifndef FURROW_AGENT_H
#define FURROW_AGENT_H

struct config;

struct agent_options {
	int once;          /* one pass, then exit (like apply, daemon style) */
};

/* Run until SIGTERM/SIGINT.  Returns 0, or an error that prevented the
 * start (the store is locked by another furrow, the socket cannot be
 * made). */
int agent_run(const struct config *cfg, const struct agent_options *o);

#endif
