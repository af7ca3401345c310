/*
 * metrics.h - furrow's state as Prometheus metrics, for node_exporter's
 * textfile collector: a file in the text exposition format 0.0.4 at
 * metrics.textfile (config.h), replaced atomically after every pass.
 *
 * Two halves:
 *
 *   metrics_record_pass()  after each pass (apply or run): adds the pass
 *                          to counters kept in the store ("runtime"
 *                          table, key "/metrics", compact JSON; no app
 *                          name starts with '/'), so that counters grow
 *                          across `furrow apply` runs and daemon restarts
 *                          as Prometheus counters must.
 *   metrics_write()        renders those counters, apply_status() (per
 *                          app: health, active slot, restarts, repairs,
 *                          held), the last pass and what the caller adds
 *                          (struct metrics_extra), and replaces the file.
 *
 * The file (every family has HELP and TYPE; base units; absent values
 * are left out rather than faked):
 *
 *   furrow_build_info{version,revision}          gauge, always 1
 *   furrow_passes_total                          counter: passes attempted
 *   furrow_pass_failures_total                   counter: passes that
 *                                                stopped before applying
 *                                                (apply_pass() < 0)
 *   furrow_pass_duration_seconds                 gauge: the last pass
 *   furrow_last_success_timestamp_seconds        gauge: end of the last
 *                                                pass that ran; 0 never
 *   furrow_last_pass_exit_code                   gauge: exit class of the
 *                                                last pass (apply_result_class();
 *                                                1 when it stopped early)
 *   furrow_fetch_failures_total                  counter: result->fetch_error
 *   furrow_verify_failures_total                 counter: result->verify_error
 *   furrow_applied_serial                        gauge: serial of the commit
 *                                                the last pass applied
 *                                                (left out when it had none)
 *   furrow_commit_age_seconds                    gauge: now - committer time
 *                                                of the accepted commit
 *   furrow_app_healthy{app}                      gauge: 1 healthy, else 0
 *   furrow_app_active_slot{app,slot="a"|"b"}     gauge: 1 for the active
 *                                                slot, 0 for the other
 *   furrow_app_held{app}                         gauge: 1 while an update
 *                                                that failed is held
 *   furrow_rollbacks_total{app}                  counter: outcome rolled-back
 *   furrow_drift_repairs_total{app}              counter: drift repairs
 *                                                (runtime record)
 *   furrow_service_restarts_total{app}           counter: a service started
 *                                                again after it stopped (by
 *                                                the daemon's watch or a
 *                                                drift repair; runtime record)
 *   furrow_outbox_items                          gauge   } when the caller
 *   furrow_outbox_bytes                          gauge   } has outbox
 *   furrow_outbox_dropped_total{kind}            counter } stats
 *   furrow_outbox_dead_letters_total             counter }
 *   furrow_process_resident_bytes                gauge: /proc/self/statm
 *
 * Per-app series are for the applied apps (name order), plus for
 * furrow_rollbacks_total any app the last pass planned that has
 * rolled back at least once (a first install that never got healthy).
 * An app that was removed, or that the last pass did not plan at all,
 * loses its rollback counter.  Label values are escaped as the format
 * requires (\\, \", \n).
 *
 * Every function returns 0 or a negative FURROW_E* code with the
 * message recorded (error.h).
 */
#ifndef FURROW_METRICS_H
#define FURROW_METRICS_H

#include "outbox.h"

struct apply_result;
struct config;
struct store;
struct strbuf;

/* One pass, as the caller saw it. */
struct metrics_pass {
	double seconds;       /* wall time of the pass */
	int ok;               /* the pass ran: apply_pass() returned 0 */
	long long now;        /* epoch seconds at its end; 0: time() */
	const struct apply_result *result; /* may be NULL (no outcomes) */
};

/*
 * Add one pass to the counters in the store (one store_update()):
 * passes, failures (!ok), the last duration and exit class, the time of
 * the last success (ok), fetch and verify failures (result's
 * fetch_error/verify_error), and per app each rolled-back outcome.
 * st is open read-write.  An unreadable "/metrics" record starts the
 * counters again from zero, with a warning logged (Prometheus sees a
 * counter reset, which rate() handles).
 */
int metrics_record_pass(struct store *st, const struct metrics_pass *p);

/* What the store does not know: filled by the caller. */
struct metrics_extra {
	int has_commit_age;        /* else furrow_commit_age_seconds is left out */
	long long commit_age;      /* seconds since the accepted commit's
	                              committer time */
	int has_outbox;            /* else the furrow_outbox_* lines are left out */
	struct outbox_stats outbox; /* outbox_stats() */
};

/*
 * Zero x and fill in the commit age at now (epoch seconds; 0: time())
 * from the store's sync state (sync_state_load(); left out while nothing
 * is accepted).  The outbox is the caller's: fill x->outbox with
 * outbox_stats() and set x->has_outbox.
 */
int metrics_extra_init(struct metrics_extra *x, const struct config *cfg,
		       struct store *st, long long now);

/*
 * Render the metrics (metrics_render()) and replace cfg->metrics.textfile
 * with them atomically: a temp file ".<name>.XXXXXX" in the same
 * directory (no ".prom" suffix, so the collector never reads it), mode
 * 0644 whatever the umask, fsync, rename over the file, fsync the
 * directory.  A reader sees the old file or the new one, never a mix.
 * The directory must exist.  Does nothing (returns 0) when
 * metrics.textfile is not set.  x may be NULL (nothing extra).  st may
 * be open read-only.
 */
int metrics_write(const struct config *cfg, struct store *st,
		  const struct metrics_extra *x);

/* The same text appended to sb, without writing a file (tests, and
 * whoever wants to serve it). */
int metrics_render(struct strbuf *sb, const struct config *cfg,
		   struct store *st, const struct metrics_extra *x);

/* Append s to sb escaped as a label value: \ to \\, " to \", newline to
 * \n (no quotes added). */
void metrics_escape_label(struct strbuf *sb, const char *s);

#endif
