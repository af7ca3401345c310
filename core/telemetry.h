/*
 * telemetry.h - what a pass tells the outside world: the Prometheus
 * textfile (metrics.h), reports and heartbeats, and events (report.h),
 * queued in the outbox for the sender (report_send.h).  The glue between
 * the apply engine and those modules, shared by `furrow apply` and
 * `furrow run`.
 */
#ifndef FURROW_TELEMETRY_H
#define FURROW_TELEMETRY_H

struct apply_result;
struct config;
struct store;

struct telemetry {
	const struct config *cfg;
	struct store *st;
	double last_report;      /* monotonic seconds of the last report
	                            or heartbeat queued; 0 none */
	/* Called after something was queued (wakes the sender); NULL ok. */
	void (*kick)(void *arg);
	void *kick_arg;
};

void telemetry_init(struct telemetry *t, const struct config *cfg,
		    struct store *st);

/* An apply_options.event sink: arg is the struct telemetry.  Queues the
 * event when report.url is set. */
void telemetry_event(void *arg, const char *name, const char *app,
		     const char *commit, const char *message);

/*
 * After a pass (ret: what apply_pass() returned; r as far as filled):
 * count it in the metrics and rewrite the textfile (metrics.textfile),
 * and queue a report when anything changed or failed, else a heartbeat
 * if report.interval has passed.  Problems are logged, never returned:
 * telling must not fail the work.
 */
void telemetry_after_pass(struct telemetry *t, const struct apply_result *r,
			  int ret, double seconds);

/* Between passes: a heartbeat when report.interval has passed. */
void telemetry_tick(struct telemetry *t);

#endif
