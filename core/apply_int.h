/*
 * apply_int.h - what the apply engine's files share (apply.c: the pass
 * and its scheduling; apply_op.c: one app's update, rollback, removal and
 * recovery; apply_drift.c: drift checks).  Not for other modules.
 *
 * Threads.  Apps are worked on by up to apply.parallel threads.  The
 * store is not thread-safe, so every store call of the engine goes
 * through the eng_* wrappers below, which hold eng->lock; nothing else is
 * shared between the workers (each has its own struct slots and spec).
 */
#ifndef FURROW_APPLY_INT_H
#define FURROW_APPLY_INT_H

#include <pthread.h>
#include <signal.h>
#include <stdint.h>

#include "apply.h"
#include "apply_state.h"
#include "appspec.h"
#include "driver.h"
#include "journal.h"

struct driver;
struct slots;
struct value;

struct engine {
	const struct config *cfg;
	struct store *st;
	pthread_mutex_t lock;
	volatile sig_atomic_t *stop;
	long long now;
	void (*event)(void *arg, const char *name, const char *app,
		      const char *commit, const char *message);
	void *event_arg;
};

/* Tell the event sink, if any (apply_options.event). */
void eng_event(struct engine *e, const char *name, const char *app,
	       const char *commit, const char *message);

void eng_init(struct engine *e, const struct config *cfg, struct store *st,
	      volatile sig_atomic_t *stop);
void eng_release(struct engine *e);
void eng_lock(struct engine *e);
void eng_unlock(struct engine *e);
int eng_stopping(const struct engine *e);

/* What one operation produced. */
struct op_result {
	enum apply_outcome outcome;
	char message[1024];
	int slot;                  /* active slot afterwards, or 0 */
};

/*
 * Update app to spec_value (the effective spec: desired spec with the
 * policies' adjustments; spec_sha256 is the desired spec's hash, what
 * "apps" records) from commit.  why is "update" or a drift description
 * (then a success is APPLY_REPAIRED).  Outcome APPLIED/REPAIRED,
 * ROLLED_BACK, DEFERRED (update lock) or FAILED.
 */
void op_update(struct engine *e, const char *app,
	       const struct value *spec_value, const char *spec_sha256,
	       const char *commit, const char *plan_sha256, const char *why,
	       struct op_result *r);

/* Stop and remove an app that left the desired state. */
void op_remove(struct engine *e, const char *app, const char *plan_sha256,
	       struct op_result *r);

/* Switch to the other slot by hand (apply_rollback). */
int op_rollback(struct engine *e, const char *app, struct op_result *r);

/* Finish or undo one interrupted operation (journal_recovery_action). */
int op_recover(struct engine *e, const struct journal_record *rec);

/*
 * Check an applied app for drift and repair it; desired_value and
 * spec_sha256 are the desired (effective) spec, used when the active
 * slot must be redeployed; kind (may be NULL) is the active slot's kind
 * when the caller knows it.  Outcome UNCHANGED, REPAIRED, ROLLED_BACK or
 * FAILED.
 */
void drift_check(struct engine *e, const char *app, const char *kind,
		 const struct value *desired_value, const char *spec_sha256,
		 const char *commit, const char *plan_sha256,
		 struct op_result *r);

/* The spec slot was staged from, parsed; NULL (error recorded) if none
 * was recorded or it no longer parses.  Takes the engine lock. */
struct appspec *slot_spec(struct engine *e, const char *app, int slot);

/* Parse an effective spec value for app. */
int spec_parse(struct appspec **out, const char *app,
	       const struct value *spec_value);

/* Where an exec health check runs: inside the slot's workload when its
 * driver can (a container), else on the host. */
struct health_env;
struct exec_target {
	const struct driver *d;
	struct driver_ctx c;
	int slot;
};
void health_env_for(struct health_env *env, struct exec_target *t,
		    const struct driver *d, const struct driver_ctx *c,
		    int slot);

/* The data side of an update (apply_backup.c).  op_snapshot_data: a
 * snapshot of app's backup.paths tagged tag ("pre-update").
 * op_restore_data: first a snapshot of the data as it is (tagged
 * save_tag, so the failed attempt's state is kept; its id in *saved_id
 * if not NULL), then the data put back in place to snapshot id. */
struct backup_info;
int op_snapshot_data(struct engine *e, const char *app,
		     const struct appspec *spec, const char *tag,
		     const char *commit, struct backup_info *out);
int op_restore_data(struct engine *e, const char *app,
		    const struct appspec *spec, uint64_t id,
		    const char *save_tag, const char *commit,
		    uint64_t *saved_id);
/* spec's backup.pre (if any) for the version running in slot. */
int op_backup_pre(struct engine *e, struct slots *slots, const char *app,
		  const struct appspec *spec, int slot);

/* Snapshot ids kept with an app in the runtime table under
 * "<app>/<what>": "presnap" (the data to put back if the operation in
 * flight is undone) and "datasnap/a", "datasnap/b" (the data that goes
 * with that slot's version, for a rollback by hand).  id 0 deletes;
 * get returns 0 when there is none. */
int data_mark_put(struct engine *e, const char *app, const char *what,
		  uint64_t id);
uint64_t data_mark_get(struct engine *e, const char *app, const char *what);

/* Locked wrappers over journal.h, apply_state.h and plan.h. */
int eng_history(struct engine *e, const char *app, const char *event,
		int from, int to, const char *commit, const char *reason);
int eng_runtime_get(struct engine *e, const char *app, struct app_runtime *rt);
int eng_runtime_put(struct engine *e, const char *app,
		    const struct app_runtime *rt);

#endif
