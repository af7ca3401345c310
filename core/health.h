/*
 * health.h - an app's health check (the `health` block of an app, see
 * README "App fields"): one probe, and the wait that turns probes into a
 * verdict for a freshly started slot.
 *
 * A probe is one of:
 *   http  GET the URL (core/http.h: no redirects followed, no proxy);
 *         healthy when the status is expect_status and, if body is set,
 *         the first LIMIT_HEALTH_BODY_BYTES of the body contain it.
 *   tcp   healthy when a TCP connection to HOST:PORT opens.
 *   exec  run argv; healthy when it exits 0.
 * Each must finish within `timeout` seconds.
 *
 * The wait (health_wait()), with the spec's interval, retries, settle:
 *   - the first probe runs at once, the next ones `interval` seconds
 *     after the previous one started (or right away if it took longer);
 *   - before any probe has passed, failures are tolerated: after
 *     retries + 1 failed probes in a row the slot is unhealthy;
 *   - the first passing probe opens the settle window: every probe in it
 *     must pass too, and one failure makes the slot unhealthy at once (it
 *     was up and went down: a flapping app is not confirmed);
 *   - the slot is healthy at the first passing probe that runs `settle`
 *     seconds or more after the one that opened the window.  During the
 *     window probes run every min(interval, time left in the window), so
 *     the verdict is not later than needed.  settle 0: the first passing
 *     probe is the verdict.
 * So a verdict always comes, after at most about
 * (retries + 1) * max(interval, timeout) + settle seconds.
 */
#ifndef FURROW_HEALTH_H
#define FURROW_HEALTH_H

#include "appspec.h"

#define HEALTH_MESSAGE_BYTES 1024 /* kept of a probe's message, with NUL */

enum health_state {
	HEALTH_HEALTHY,
	HEALTH_UNHEALTHY,
	HEALTH_STOPPED,    /* health_wait(): should_stop said so first */
};

struct health_result {
	enum health_state state;
	int attempts;      /* probes run (health_probe(): 1) */
	int failures;      /* failed probes, in all */
	/* Why the last failed probe failed, e.g.
	 *   "http://127.0.0.1:8080/healthz: status 503, want 200"
	 *   "127.0.0.1:9100: connection refused"
	 *   "bin/check: exit 3: <first bytes of its output>"
	 * "" when no probe failed. */
	char message[HEALTH_MESSAGE_BYTES];
};

/*
 * Where and when probes run.  Every field may be zero/NULL.
 *   slot_dir  exec: the working directory, and what a relative argv[0]
 *             is relative to; NULL: the current directory.
 *   now       seconds on a monotonic clock; NULL: CLOCK_MONOTONIC.
 *   sleep     wait that many seconds; NULL: nanosleep().
 * Tests inject now/sleep to run the wait's schedule without waiting;
 * each probe's own timeout is always real time.
 */
struct health_env {
	const char *slot_dir;
	double (*now)(void *clock_arg);
	void (*sleep)(double seconds, void *clock_arg);
	void *clock_arg;
	/* NULL: an exec probe runs argv on the host.  Else it runs it
	 * where the workload is (a container): 0 and *exit_code when it
	 * ran (its output in out, cut to out_size), or a negative FURROW_E*
	 * with a message when it could not. */
	int (*exec)(void *exec_arg, char *const *argv, unsigned timeout_ms,
		    int *exit_code, char *out, size_t out_size);
	void *exec_arg;
};

/*
 * Run one probe of h (which passed appspec validation).  out->state is
 * HEALTH_HEALTHY or HEALTH_UNHEALTHY (with out->message); kind
 * APPSPEC_HEALTH_NONE is healthy.  Returns 0 when the probe ran, whatever
 * its verdict, or a negative FURROW_E* (error.h) when it could not run at
 * all (pipe, fork, socket failed): that is also recorded as an unhealthy
 * result whose message is the error.
 */
int health_probe(struct health_result *out, const struct appspec_health *h,
		 const struct health_env *env);

/*
 * Probe h until a verdict, as described at the top.  should_stop (may be
 * NULL) is asked before each probe and each sleep; when it returns
 * non-zero the wait ends with HEALTH_STOPPED.  A probe that could not run
 * counts as a failed probe.  out->attempts counts every probe.  Returns 0
 * (the verdict is in out->state); kind APPSPEC_HEALTH_NONE is healthy at
 * once with no probe.
 */
int health_wait(struct health_result *out, const struct appspec_health *h,
		const struct health_env *env, int (*should_stop)(void *),
		void *arg);

#endif
