/*
 * apply.h - the apply engine: converge this host on the accepted commit.
 *
 * One pass (apply_pass()):
 *
 *   1. recover: finish or undo every operation a previous furrow left in
 *      the journal (journal.h: roll forward once `switch` is done, else
 *      back);
 *   2. sync: fetch and verify (sync.h) unless told not to; a fetch that
 *      fails is a warning - the host keeps converging on the commit it
 *      accepted before - and a verification failure is reported but does
 *      not stop the pass either (nothing unverified is ever applied);
 *   3. plan the accepted commit (plan.h);
 *   4. apply each item, independent apps in parallel (apply.parallel),
 *      dependents only after what they depend on succeeded:
 *        create/update: stage the inactive slot, start it, health-check
 *          it, switch `current`, confirm, stop the old slot (start-first;
 *          stop-first stops the old slot before starting the new one);
 *          a failed start or health check switches back and holds the
 *          spec (not retried on this commit, or before apply.retry_failed
 *          seconds);
 *        unchanged: check for drift (files changed or missing in the
 *          active slot: redeploy through the other slot; a stopped
 *          workload: start it again) and repair it;
 *        remove: stop both slots, remove them, keep data unless `purge`.
 *      An update lock (core/updlock.h) that is live defers the update.
 *
 * Every step runs under the intent journal, so a crash at any instant
 * leaves exactly one complete slot active after the next start.
 */
#ifndef FURROW_APPLY_H
#define FURROW_APPLY_H

#include <signal.h>
#include <stddef.h>

#include "plan.h"

struct backup_drill_result;
struct backup_info;
struct backup_sched;
struct config;
struct store;

enum apply_outcome {
	APPLY_UNCHANGED,   /* nothing to do, no drift */
	APPLY_APPLIED,     /* created or updated, healthy, confirmed */
	APPLY_REMOVED,     /* left the desired state; stopped and removed */
	APPLY_REPAIRED,    /* drift found and repaired */
	APPLY_DEFERRED,    /* a policy deferred it, or an update lock */
	APPLY_DENIED,      /* a policy denied it */
	APPLY_HELD,        /* this spec failed before on this commit */
	APPLY_ROLLED_BACK, /* failed to start or get healthy: switched back */
	APPLY_SKIPPED,     /* an app it depends on did not succeed */
	APPLY_FAILED,      /* an error (disk full, unsupported kind, ...);
	                      the old version keeps running */
};

struct apply_app {
	char *app;
	char *kind;                /* NULL for a removal of unknown kind */
	enum plan_action action;
	enum apply_outcome outcome;
	char *message;             /* why, for anything but unchanged/applied */
	int slot;                  /* active slot after the pass, or 0 */
};

struct apply_result {
	char commit[41];           /* what was planned; "" if nothing */
	char plan_sha256[65];
	int has_serial;
	long long serial;
	char *fetch_error;         /* the fetch failed (pass went on) */
	char *verify_error;        /* the fetched commit did not verify */
	struct apply_app *apps;
	size_t count;
	unsigned recovered;        /* journal records finished at start */
	double seconds;            /* wall time of the pass */
};

struct apply_options {
	int no_sync;               /* plan what is accepted; do not fetch */
	const char *bundle;        /* sync from this bundle file instead */
	long long now;             /* epoch seconds for the plan; 0: time() */
	/* Set (by a signal handler) to ask the pass to stop: the current
	 * step finishes, an update not yet switched is rolled back, one
	 * already switched is completed.  NULL: never. */
	volatile sig_atomic_t *stop;
	/* Called as things happen (from worker threads): "update-started",
	 * "update-succeeded", "update-rolled-back", "update-failed",
	 * "removed", "drift-repaired", "policy-deferred", "policy-denied"
	 * (only when the plan changed since the last pass), "verify-failed"
	 * (only for a new failure).  app, commit, message may be NULL.
	 * NULL: no events. */
	void (*event)(void *arg, const char *name, const char *app,
		      const char *commit, const char *message);
	void *event_arg;
};

/*
 * Run one pass.  st is open read-write.  Returns 0 when the pass ran
 * (whatever each app's outcome: see out), or an error that stopped it
 * before anything was applied: FURROW_ENOENT (nothing accepted yet),
 * FURROW_EVERIFY (the accepted commit no longer verifies), a bad
 * furrow.lua, a journal that cannot be recovered.  out is filled as far
 * as it got in every case; release it with apply_result_release().
 */
int apply_pass(struct apply_result *out, const struct config *cfg,
	       struct store *st, const struct apply_options *opts);

/* Recovery only (step 1 of a pass): returns records finished, or <0. */
int apply_recover(const struct config *cfg, struct store *st);

/*
 * `furrow rollback APP`: switch app to its other slot by hand - start it,
 * health-check it, switch, stop the current one - and hold the spec it
 * leaves so that the next pass does not re-apply it (until a new
 * commit).  FURROW_ENOENT if app is not applied here, FURROW_EINVAL if
 * its other slot holds no complete earlier version; a failed health
 * check leaves the app where it was (FURROW_ERR with the reason).
 */
int apply_rollback(const struct config *cfg, struct store *st,
		   const char *app);

/* Exit-code class of a result: 3 verify failed, 5 something rolled back
 * or held, 1 something failed, 4 deferred or denied, else 0. */
int apply_result_class(const struct apply_result *r);

/* "unchanged", "applied", "removed", "repaired", "deferred", "denied",
 * "held", "rolled-back", "skipped", "failed". */
const char *apply_outcome_name(enum apply_outcome o);

void apply_result_release(struct apply_result *r);

/*
 * What status shows (apply_status.c), read-only: a table
 *   { last_pass = { commit, serial?, signer?, plan_sha256, time, exit },
 *     apps = { { app, kind?, slot?, commit, spec_sha256, health,
 *                health_message?, changed?, restarts, drift_repairs,
 *                held? = { spec_sha256, commit, since, reason },
 *                update_lock? = { until?, reason } }, ... } }
 * apps in name order; last_pass absent before the first pass.
 */
struct value;
int apply_status(struct value **out, const struct config *cfg,
		 struct store *st);

/*
 * The daemon's service watch between passes (apply_watch.c): restart a
 * supervised service whose process exited, after a backoff delay.  Call
 * apply_watch_tick() about once a second with the store not in use by a
 * pass.
 */
struct apply_watch;
struct apply_watch *apply_watch_new(void);
void apply_watch_free(struct apply_watch *aw);
int apply_watch_tick(struct apply_watch *aw, const struct config *cfg,
		     struct store *st);

/*
 * Backups of applied apps (core/apply_backup.c), as the active slot's
 * spec declares them (backup = { ... }).
 *
 * apply_backup: run backup.pre (inside the container for a container
 * app), stop the app if backup.stop, take a snapshot tagged tag
 * ("manual", "scheduled"), start it again, apply retention (keep,
 * keep_daily, keep_weekly) and copy to the offsite target if configured
 * (a failed copy is logged and retried with the next snapshot).
 * apply_drill: backup_drill() of the app's newest snapshot.
 */
int apply_backup(const struct config *cfg, struct store *st, const char *app,
		 const char *tag, struct backup_info *out);
int apply_drill(const struct config *cfg, struct store *st, const char *app,
		struct backup_drill_result *out);

/* The applied apps that declare a backup (their names, 63 bytes at most;
 * *out freed with free()); st may be read-only. */
int apply_backup_apps(const struct config *cfg, struct store *st,
		      char (**out)[64], size_t *n);
/* Retention for app by its spec's keep, keep_daily, keep_weekly. */
struct backup_prune_result;
int apply_backup_prune(const struct config *cfg, struct store *st,
		       const char *app, struct backup_prune_result *out);

/*
 * The daemon's schedule: for each applied app with a backup, a snapshot
 * when backup.every has passed since its newest one (at once when it has
 * none or is overdue after downtime, plus a stable per-host spread of up
 * to a tenth of the interval, at most an hour; a failure is retried
 * after at most 15 minutes), a drill when backup.drill_every has passed,
 * and events: "backup-failed", "backup-drill-failed", "backup-rpo-missed"
 * and "backup-rto-missed" (when a target is first missed).  Returns 1 if
 * a job ran, 0 if none was due, <0 on error.
 */
struct backup_sched *backup_sched_new(void);
void backup_sched_free(struct backup_sched *s);
int apply_backup_due(const struct config *cfg, struct store *st,
		     struct backup_sched *s,
		     void (*event)(void *arg, const char *name, const char *app,
				   const char *commit, const char *message),
		     void *event_arg);

#endif
