/*
 * apply_op.c - one app's update, rollback or removal, step by step under
 * the intent journal, and the recovery of one interrupted operation.
 *
 * The steps of an update from slot O to slot S (journal.h names them):
 *
 *   stage     empty S, write the commit's files into it, its manifest
 *             last; record S's effective spec in the store
 *   stop-old  (stop-first only, here) stop O
 *   start     start S's workload
 *   health    health-check S (and watch that it keeps running)
 *   switch    `current` -> S (rename), then expose it (driver activate):
 *             THE COMMIT POINT
 *   confirm   record S's spec and commit as applied, clear any hold
 *   stop-old  (start-first, here) stop O; O's files stay for rollback
 *   prune     nothing to drop yet for these drivers; kept as the step a
 *             later driver (images, units) hooks into
 *
 * A failure before the switch reverts: stop S, make sure O is current and
 * running (stop-first stopped it), hold the spec, finish "reverted".  A
 * failure after it cannot undo the switch (S is healthy and current); the
 * record stays in the journal and recovery completes it.
 *
 * Every step is idempotent: recovery may run again a step that ran in
 * full (drivers' start/stop tolerate it, staging starts from empty).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "apply_int.h"
#include "bug.h"
#include "config.h"
#include "driver.h"
#include "error.h"
#include "health.h"
#include "log.h"
#include "plan.h"
#include "slots.h"
#include "strbuf.h"
#include "sync_tree.h"
#include "updlock.h"
#include "value.h"
#include "backup.h"
#include "banned.h"

/* How long a service without a health check must keep running. */
#define NO_CHECK_GRACE_SECONDS 2.0

struct op {
	struct engine *e;
	const char *app;
	enum journal_op kind;
	struct slots *slots;
	int from, to;                    /* 'a', 'b' or 0 */
	struct appspec *from_spec, *to_spec;
	const struct driver *from_drv, *to_drv;
	char commit[41], spec_sha[65], plan_sha[65];
	const struct value *to_value;    /* update: the spec to record */
	struct tree_files files;         /* update: what to stage */
	int repair;                      /* update: a drift repair, which
	                                    leaves a held update held */
	uint64_t presnap;                /* data to put back on revert */
	char why[1024];                  /* of a failed start or check */
};

static const char *slot_str(int slot)
{
	return slot == 'a' ? "a" : slot == 'b' ? "b" : "";
}

static void op_release(struct op *o)
{
	appspec_free(o->from_spec);
	appspec_free(o->to_spec);
	tree_files_release(&o->files);
	slots_free(o->slots);
}

static void ctx_for(const struct op *o, struct driver_ctx *c, int slot)
{
	const struct appspec *spec = slot == o->to ? o->to_spec : o->from_spec;

	memset(c, 0, sizeof(*c));
	c->cfg = o->e->cfg;
	c->app = o->app;
	c->slots = o->slots;
	c->spec = spec;
	c->commit = slot == o->to ? o->commit : "";
}

static const struct driver *drv_of(const struct op *o, int slot)
{
	return slot == o->to ? o->to_drv : o->from_drv;
}

static int drv_start(struct op *o, int slot)
{
	struct driver_ctx c;
	const struct driver *d = drv_of(o, slot);

	if (!slot || !d)
		return 0;
	ctx_for(o, &c, slot);
	return d->start(&c, slot);
}

static int drv_stop(struct op *o, int slot)
{
	struct driver_ctx c;
	const struct driver *d = drv_of(o, slot);

	if (!slot)
		return 0;
	/* A slot whose spec is unknown may still have a process: the
	 * service driver finds it by its pid file alone. */
	if (!d)
		d = &driver_service;
	ctx_for(o, &c, slot);
	return d->stop(&c, slot);
}

static int drv_prepare(struct op *o)
{
	struct driver_ctx c;

	if (!o->to_drv->prepare)
		return 0;
	ctx_for(o, &c, o->to);
	return o->to_drv->prepare(&c);
}

static int drv_activate(struct op *o, int slot)
{
	struct driver_ctx c;
	const struct driver *d = drv_of(o, slot);

	if (!slot || !d)
		return 0;
	ctx_for(o, &c, slot);
	return d->activate(&c);
}

/* ---- journal, locked ---- */

static int j_begin(struct op *o)
{
	struct journal_intent in = { o->kind, slot_str(o->from), slot_str(o->to),
				     o->commit, o->spec_sha, o->plan_sha };
	int ret;

	eng_lock(o->e);
	ret = journal_begin(o->e->st, o->app, &in);
	eng_unlock(o->e);
	return ret;
}

static int j_mark(struct op *o, enum journal_step s, int done)
{
	int ret;

	eng_lock(o->e);
	ret = done ? journal_step_done(o->e->st, o->app, s) :
		     journal_step_start(o->e->st, o->app, s);
	eng_unlock(o->e);
	return ret;
}

static int j_finish(struct op *o, enum journal_outcome out, const char *why)
{
	int ret;

	eng_lock(o->e);
	ret = journal_finish(o->e->st, o->app, out, why);
	eng_unlock(o->e);
	return ret;
}

typedef int (*step_fn)(struct op *o);

/* Run one step under the write-ahead rule. */
static int step(struct op *o, enum journal_step s, step_fn fn)
{
	int ret = j_mark(o, s, 0);

	if (!ret)
		ret = fn(o);
	if (!ret)
		ret = j_mark(o, s, 1);
	return ret;
}

/* ---- specs ---- */

int spec_parse(struct appspec **out, const char *app,
	       const struct value *spec_value)
{
	return appspec_parse(out, "furrow.lua", 0, app, spec_value);
}

struct appspec *slot_spec(struct engine *e, const char *app, int slot)
{
	struct appspec *a = NULL;
	struct value *v = NULL;
	int ret;

	if (!slot)
		return NULL;
	eng_lock(e);
	ret = runtime_spec_get(e->st, app, slot, &v);
	eng_unlock(e);
	if (!ret && spec_parse(&a, app, v))
		a = NULL;
	value_free(v);
	return a;
}

/* Load what the op needs to know about its slots. */
static int op_open(struct op *o, struct engine *e, const char *app,
		   enum journal_op kind)
{
	int ret;

	memset(o, 0, sizeof(*o));
	o->e = e;
	o->app = app;
	o->kind = kind;
	if ((ret = slots_open(&o->slots, e->cfg->state_dir, app)))
		return ret;
	o->from = slots_active(o->slots);
	return 0;
}

static void load_from(struct op *o)
{
	o->from_spec = slot_spec(o->e, o->app, o->from);
	o->from_drv = o->from_spec ? driver_for(o->from_spec->kind) : NULL;
	error_clear();
}

/* ---- the steps ---- */

/* Slot's confirmation: set to this op's spec and commit, or cleared. */
static int set_confirmed(struct op *o, int slot, int set)
{
	struct app_runtime rt;
	char *c;
	int ret;

	eng_lock(o->e);
	ret = runtime_get(o->e->st, o->app, &rt);
	if (!ret) {
		c = rt.confirmed[slot == 'a' ? 0 : 1];
		if (set)
			snprintf(c, sizeof(rt.confirmed[0]), "%s %s",
				 o->spec_sha, o->commit);
		else
			c[0] = 0;
		ret = runtime_put(o->e->st, o->app, &rt);
	}
	eng_unlock(o->e);
	return ret;
}

static int do_stage(struct op *o)
{
	struct slot_stage *stage = NULL;
	struct slot_manifest_info info = { o->commit, o->spec_sha };
	int ret;

	/* First: the slot no longer holds what was confirmed there. */
	if ((ret = set_confirmed(o, o->to, 0)))
		return ret;
	if ((ret = slots_stage_begin(o->slots, &stage)))
		return ret;
	if (slot_stage_slot(stage) != o->to)
		BUG("staging slot %c, journal says %c", slot_stage_slot(stage),
		    o->to);
	for (size_t i = 0; !ret && i < o->files.count; i++) {
		const struct tree_file *f = &o->files.files[i];

		ret = slot_stage_file(stage, f->path, f->data, f->len, f->mode);
	}
	if (!ret)
		ret = slots_stage_commit(stage, &info);
	slot_stage_free(stage);
	if (ret)
		return ret;
	eng_lock(o->e);
	ret = runtime_spec_put(o->e->st, o->app, o->to, o->to_value);
	eng_unlock(o->e);
	return ret;
}

static int do_stop_old(struct op *o)
{
	return drv_stop(o, o->from);
}

static int do_start(struct op *o)
{
	int ret = drv_start(o, o->to);

	if (ret)
		snprintf(o->why, sizeof(o->why), "start failed: %s",
			 error_message());
	return ret;
}

static int watch_stop(void *arg)
{
	struct op *o = arg;
	struct driver_ctx c;
	char why[256];

	if (eng_stopping(o->e)) {
		snprintf(o->why, sizeof(o->why), "furrow is stopping");
		return 1;
	}
	ctx_for(o, &c, o->to);
	if (o->to_drv->running(&c, o->to, why, sizeof(why)) == 0) {
		snprintf(o->why, sizeof(o->why), "%s during the health check",
			 why);
		return 1;
	}
	return 0;
}

static int exec_in_slot(void *arg, char *const *argv, unsigned timeout_ms,
			int *exit_code, char *out, size_t out_size)
{
	struct exec_target *t = arg;

	return t->d->exec(&t->c, t->slot, argv, timeout_ms, exit_code, out,
			  out_size);
}

void health_env_for(struct health_env *env, struct exec_target *t,
		    const struct driver *d, const struct driver_ctx *c,
		    int slot)
{
	if (!d || !d->exec)
		return;
	t->d = d;
	t->c = *c;
	t->slot = slot;
	env->exec = exec_in_slot;
	env->exec_arg = t;
}

static int do_health(struct op *o)
{
	const struct appspec_health *h = &o->to_spec->health;
	struct health_env env = { 0 };
	struct exec_target xt;
	struct driver_ctx xc;
	struct health_result hr;
	struct strbuf dir = STRBUF_INIT;

	o->why[0] = 0;
	strbuf_addf(&dir, "%s/%c", slots_path(o->slots), o->to);
	env.slot_dir = dir.buf;
	ctx_for(o, &xc, o->to);
	health_env_for(&env, &xt, o->to_drv, &xc, o->to);
	if (h->kind == APPSPEC_HEALTH_NONE &&
	    o->to_spec->kind != APPSPEC_SERVICE) {
		hr.state = HEALTH_HEALTHY;
	} else if (h->kind == APPSPEC_HEALTH_NONE) {
		/* Running is the only check: it must still run after a grace
		 * period. */
		double grace = NO_CHECK_GRACE_SECONDS;
		struct timespec t0, t;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		hr.state = HEALTH_HEALTHY;
		do {
			if (watch_stop(o)) {
				hr.state = HEALTH_UNHEALTHY;
				break;
			}
			usleep(50000);
			clock_gettime(CLOCK_MONOTONIC, &t);
		} while ((double)(t.tv_sec - t0.tv_sec) +
			 (double)(t.tv_nsec - t0.tv_nsec) / 1e9 < grace);
	} else {
		health_wait(&hr, h, &env, watch_stop, o);
		if (hr.state == HEALTH_UNHEALTHY)
			snprintf(o->why, sizeof(o->why), "health check failed "
				 "after %d attempts: %.900s", hr.attempts, hr.message);
		else if (hr.state == HEALTH_STOPPED)
			hr.state = HEALTH_UNHEALTHY; /* why set by watch_stop */
		/* A check that passed on a process that died meanwhile is
		 * not healthy either. */
		if (hr.state == HEALTH_HEALTHY && watch_stop(o))
			hr.state = HEALTH_UNHEALTHY;
	}
	strbuf_release(&dir);
	if (hr.state != HEALTH_HEALTHY)
		return error_set(FURROW_ERR, "app %s: slot %c: %s", o->app,
				 o->to, o->why[0] ? o->why : "unhealthy");
	return 0;
}

/* Expose first (a files target link leads to `current`, whichever slot
 * that is), then the rename: a refused target fails before the commit
 * point and is undone like a failed start. */
static int do_switch(struct op *o)
{
	int ret = drv_activate(o, o->to);

	return ret ? ret : slots_switch(o->slots, o->to);
}

static int do_confirm(struct op *o)
{
	struct app_runtime rt;
	int ret;

	eng_lock(o->e);
	ret = plan_record_applied(o->e->st, o->app, o->spec_sha, o->commit);
	if (!ret)
		ret = runtime_get(o->e->st, o->app, &rt);
	if (!ret) {
		snprintf(rt.health, sizeof(rt.health), "healthy");
		rt.health_msg[0] = 0;
		rt.checked = rt.changed = (long long)time(NULL);
		snprintf(rt.confirmed[o->to == 'a' ? 0 : 1],
			 sizeof(rt.confirmed[0]), "%s %s", o->spec_sha,
			 o->commit);
		if (o->kind == JOURNAL_OP_UPDATE && !o->repair) {
			rt.held_spec[0] = rt.held_commit[0] = 0;
			rt.held_reason[0] = 0;
			rt.held_at = 0;
		}
		ret = runtime_put(o->e->st, o->app, &rt);
	}
	eng_unlock(o->e);
	return ret;
}

static int do_prune(struct op *o)
{
	(void)o;
	return 0;
}

/* Hold spec/commit so the next pass does not retry it at once. */
static void hold(struct op *o, const char *spec, const char *commit,
		 const char *reason)
{
	struct app_runtime rt;

	eng_lock(o->e);
	if (!runtime_get(o->e->st, o->app, &rt)) {
		snprintf(rt.held_spec, sizeof(rt.held_spec), "%s", spec);
		snprintf(rt.held_commit, sizeof(rt.held_commit), "%s", commit);
		snprintf(rt.held_reason, sizeof(rt.held_reason), "%.500s", reason);
		rt.held_at = (long long)time(NULL);
		if (runtime_put(o->e->st, o->app, &rt))
			log_event(LOG_WARN, "apply.hold_failed", error_message(),
				  "app", o->app, NULL);
	}
	eng_unlock(o->e);
}

static int from_running(struct op *o)
{
	struct driver_ctx c;
	char why[256];

	if (!o->from_drv)
		return 1;
	ctx_for(o, &c, o->from);
	return o->from_drv->running(&c, o->from, why, sizeof(why)) == 1;
}

static void wait_restored(struct op *o)
{
	struct health_env env = { 0 };
	struct exec_target xt;
	struct driver_ctx xc;
	struct health_result hr;
	struct strbuf dir = STRBUF_INIT;

	if (!o->from_spec || o->from_spec->health.kind == APPSPEC_HEALTH_NONE)
		return;
	strbuf_addf(&dir, "%s/%c", slots_path(o->slots), o->from);
	env.slot_dir = dir.buf;
	ctx_for(o, &xc, o->from);
	health_env_for(&env, &xt, o->from_drv, &xc, o->from);
	health_wait(&hr, &o->from_spec->health, &env, NULL, NULL);
	if (hr.state != HEALTH_HEALTHY)
		log_event(LOG_ERROR, "apply.restore_unhealthy", hr.message,
			  "app", o->app, "slot", slot_str(o->from), NULL);
	strbuf_release(&dir);
}

/*
 * Undo an operation that did not reach its switch: stop the new slot,
 * make the old one current and running again.  Returns 0 when the app is
 * back where it was and the journal record is finished, else an error
 * (the record stays for the next recovery).
 */
/* The spec whose backup settings govern the app's data across this
 * operation: the new one's if it asks for snapshots around updates,
 * else the old one's. */
static const struct appspec *data_spec(const struct op *o)
{
	if (o->to_spec && o->to_spec->backup.enabled &&
	    o->to_spec->backup.snapshot_before_update)
		return o->to_spec;
	if (o->from_spec && o->from_spec->backup.enabled &&
	    o->from_spec->backup.snapshot_before_update)
		return o->from_spec;
	return NULL;
}

/* Undo the data side: put back what was snapshotted before the new
 * version started (the failed attempt's data is kept as a snapshot). */
static void revert_data(struct op *o)
{
	const struct appspec *spec = data_spec(o);
	char num[24];

	if (!o->presnap)
		o->presnap = data_mark_get(o->e, o->app, "presnap");
	if (!o->presnap)
		return;
	if (!spec)
		spec = o->from_spec && o->from_spec->backup.enabled ?
		       o->from_spec : o->to_spec;
	snprintf(num, sizeof(num), "%llu", (unsigned long long)o->presnap);
	if (!spec || op_restore_data(o->e, o->app, spec, o->presnap,
				     o->kind == JOURNAL_OP_ROLLBACK ?
				     "failed-rollback" : "failed-update",
				     o->commit, NULL)) {
		log_event(LOG_ERROR, "apply.data_restore_failed", spec ?
			  error_message() : "no backup spec", "app", o->app,
			  "snapshot", num, NULL);
		eng_event(o->e, "data-restore-failed", o->app, o->commit,
			  error_message());
		error_clear();
		return;
	}
	eng_event(o->e, "data-rolled-back", o->app, o->commit, num);
}

static int revert(struct op *o, const char *reason)
{
	int ret = drv_stop(o, o->to);

	if (!ret)
		revert_data(o);
	if (!ret && o->from) {
		int was_running = from_running(o);

		if (slots_active(o->slots) != o->from)
			ret = slots_switch(o->slots, o->from);
		if (!ret)
			ret = drv_start(o, o->from);
		if (!ret)
			ret = drv_activate(o, o->from);
		/* Stopped for a stop-first update: not done until it answers
		 * again (a failure here is logged; the next pass repairs). */
		if (!ret && !was_running)
			wait_restored(o);
	} else if (!ret && o->kind == JOURNAL_OP_UPDATE) {
		ret = slots_unset_current(o->slots);
	}
	if (!ret)
		ret = j_finish(o, JOURNAL_REVERTED, reason);
	if (!ret && o->presnap && data_mark_put(o->e, o->app, "presnap", 0))
		error_clear();
	if (ret)
		log_event(LOG_ERROR, "apply.revert_failed", error_message(),
			  "app", o->app, NULL);
	return ret;
}

/* snapshot_before_update: the data as it is, before the new version can
 * touch it (after the old one stopped, for stop-first).  Not for a drift
 * repair: it redeploys the version that runs, so there is no earlier
 * version for its data to go with (a rollback by hand to the drifted
 * slot would otherwise put the data back to the time of the repair). */
static int pre_snapshot(struct op *o)
{
	const struct appspec *spec = data_spec(o);
	struct backup_info info;
	int ret;

	if (!o->from || !spec || o->repair)
		return 0;
	/* start-first: the old version still runs and writes; its own
	 * backup.pre (a dump, a quiesce) makes the copy consistent, as for
	 * a scheduled backup.  stop-first: it has stopped, the data is at
	 * rest. */
	if (o->to_spec->strategy == APPSPEC_START_FIRST && o->from_spec &&
	    o->from_spec->backup.enabled &&
	    (ret = op_backup_pre(o->e, o->slots, o->app, o->from_spec,
				 o->from)))
		return error_prefix(ret, "snapshot before the update");
	if ((ret = op_snapshot_data(o->e, o->app, spec, "pre-update", "",
				    &info)))
		return error_prefix(ret, "snapshot before the update");
	o->presnap = info.id;
	return data_mark_put(o->e, o->app, "presnap", info.id);
}

/* After the switch of an update or rollback, before its journal record
 * is finished: the snapshot taken before it is the data that goes with
 * the slot left behind; the new slot's old mark is stale.  Recovery
 * rolling the operation forward does this again, the snapshot id then
 * read back from the presnap mark, which is cleared only once the record
 * is finished (clear_presnap). */
static void keep_data_marks(struct op *o)
{
	char from[16], to[16];

	if (!o->presnap)
		o->presnap = data_mark_get(o->e, o->app, "presnap");
	snprintf(from, sizeof(from), "datasnap/%c", o->from ? o->from : 'x');
	snprintf(to, sizeof(to), "datasnap/%c", o->to);
	if ((o->from && data_mark_put(o->e, o->app, from, o->presnap)) ||
	    data_mark_put(o->e, o->app, to, 0))
		error_clear();
}

static void clear_presnap(struct op *o)
{
	if (data_mark_put(o->e, o->app, "presnap", 0))
		error_clear();
}

/* ---- update ---- */

static int read_files(struct op *o)
{
	if (!o->to_spec->files)
		return 0;
	return sync_read_tree(&o->files, o->e->cfg, o->commit,
			      o->to_spec->files);
}

/* A live update lock defers the update (not a first install). */
static int locked(struct op *o, struct op_result *r)
{
	struct strbuf path = STRBUF_INIT;
	struct updlock l;

	if (!o->from)
		return 0;
	strbuf_addf(&path, "%s/data/.furrow-lock", slots_path(o->slots));
	updlock_check(&l, path.buf, (long long)time(NULL));
	strbuf_release(&path);
	if (!l.held)
		return 0;
	if (l.problem[0])
		snprintf(r->message, sizeof(r->message), "update lock: %s",
			 l.problem);
	else
		snprintf(r->message, sizeof(r->message), "update lock held "
			 "until %lld%s%s", l.until, l.reason[0] ? ": " : "",
			 l.reason);
	return 1;
}

void op_update(struct engine *e, const char *app,
	       const struct value *spec_value, const char *spec_sha256,
	       const char *commit, const char *plan_sha256, const char *why,
	       struct op_result *r)
{
	int repair = strcmp(why, "update") != 0;
	struct op o;
	int ret;

	memset(r, 0, sizeof(*r));
	r->outcome = APPLY_FAILED;
	if ((ret = op_open(&o, e, app, JOURNAL_OP_UPDATE)))
		goto fail;
	r->slot = o.from;
	o.repair = repair;
	o.to = slots_inactive(o.slots);
	o.to_value = spec_value;
	snprintf(o.commit, sizeof(o.commit), "%s", commit);
	snprintf(o.spec_sha, sizeof(o.spec_sha), "%s", spec_sha256);
	snprintf(o.plan_sha, sizeof(o.plan_sha), "%s", plan_sha256);
	if ((ret = spec_parse(&o.to_spec, app, spec_value)))
		goto fail;
	if (!(o.to_drv = driver_for(o.to_spec->kind))) {
		ret = FURROW_EINVAL;
		goto fail;
	}
	load_from(&o);
	if (locked(&o, r)) {
		r->outcome = APPLY_DEFERRED;
		goto out;
	}
	/* Everything that can fail without touching the host first. */
	if ((ret = read_files(&o)) || (ret = drv_prepare(&o)))
		goto fail;
	/* No stale data mark may outlive into this operation's journal
	 * record (recovery would restore it). */
	if ((ret = data_mark_put(e, app, "presnap", 0)) ||
	    (ret = j_begin(&o)))
		goto fail;
	log_event(LOG_INFO, "apply.update_started", why, "app", app, "from",
		  slot_str(o.from), "to", slot_str(o.to), "commit", commit,
		  NULL);
	eng_event(e, "update-started", app, commit, repair ? why : NULL);
	if ((ret = step(&o, JOURNAL_STAGE, do_stage)) ||
	    (o.to_spec->strategy == APPSPEC_STOP_FIRST &&
	     (ret = step(&o, JOURNAL_STOP_OLD, do_stop_old))) ||
	    (ret = pre_snapshot(&o)) ||
	    (ret = step(&o, JOURNAL_START, do_start)) ||
	    (ret = step(&o, JOURNAL_HEALTH, do_health)) ||
	    ((ret = step(&o, JOURNAL_SWITCH, do_switch)) &&
	     slots_active(o.slots) != o.to)) {
		char reason[1024];

		snprintf(reason, sizeof(reason), "%s", o.why[0] ? o.why :
			 error_message());
		if (revert(&o, reason)) {
			snprintf(r->message, sizeof(r->message), "%.400s; and the "
				 "rollback failed (retried at the next start): %.400s",
				 reason, error_message());
			goto out;
		}
		/* A crash-free failure of the new version is held; an
		 * I/O error while staging is not the spec's fault. */
		if (o.why[0] && strcmp(o.why, "furrow is stopping"))
			hold(&o, spec_sha256, commit, reason);
		r->outcome = o.why[0] ? APPLY_ROLLED_BACK : APPLY_FAILED;
		snprintf(r->message, sizeof(r->message), "%s", reason);
		log_event(o.why[0] ? LOG_WARN : LOG_ERROR, o.why[0] ?
			  "apply.rolled_back" : "apply.failed", reason, "app",
			  app, "slot", slot_str(o.from), NULL);
		goto out;
	}
	/* Past this point the new slot is healthy and current: finish,
	 * whatever (an error leaves the record for recovery). */
	if (ret ||
	    (ret = step(&o, JOURNAL_CONFIRM, do_confirm)) ||
	    (o.to_spec->strategy == APPSPEC_START_FIRST &&
	     (ret = step(&o, JOURNAL_STOP_OLD, do_stop_old))) ||
	    (ret = step(&o, JOURNAL_PRUNE, do_prune)))
		goto fail;
	keep_data_marks(&o);
	if ((ret = j_finish(&o, JOURNAL_COMMITTED, repair ? why : NULL)))
		goto fail;
	clear_presnap(&o);
	r->outcome = repair ? APPLY_REPAIRED : APPLY_APPLIED;
	r->slot = o.to;
	if (repair)
		snprintf(r->message, sizeof(r->message), "%s", why);
	log_event(LOG_INFO, "apply.updated", "new slot active", "app", app,
		  "slot", slot_str(o.to), "commit", commit, NULL);
	goto out;
fail:
	snprintf(r->message, sizeof(r->message), "%s", error_message());
	log_event(LOG_ERROR, "apply.failed", r->message, "app", app, NULL);
out:
	op_release(&o);
}

/* ---- removal ---- */

static int do_stop_both(struct op *o)
{
	int ret = 0;

	for (int slot = 'a'; !ret && slot <= 'b'; slot++) {
		struct driver_ctx c;
		struct appspec *a = slot_spec(o->e, o->app, slot);
		const struct driver *d = a ? driver_for(a->kind) : NULL;

		memset(&c, 0, sizeof(c));
		c.cfg = o->e->cfg;
		c.app = o->app;
		c.slots = o->slots;
		c.spec = a;
		ret = (d ? d : &driver_service)->stop(&c, slot);
		appspec_free(a);
	}
	return ret;
}

static int do_unlink(struct op *o)
{
	struct driver_ctx c;
	int ret = slots_unset_current(o->slots);

	if (ret)
		return ret;
	if (o->from_drv) {
		ctx_for(o, &c, o->from);
		return o->from_drv->remove(&c);
	}
	/* No active slot (a first install that failed): what either slot
	 * was staged for may still have left units or containers. */
	for (int slot = 'a'; !ret && slot <= 'b'; slot++) {
		struct appspec *a = slot_spec(o->e, o->app, slot);
		const struct driver *d = a ? driver_for(a->kind) : NULL;

		error_clear();
		if (d) {
			memset(&c, 0, sizeof(c));
			c.cfg = o->e->cfg;
			c.app = o->app;
			c.slots = o->slots;
			c.spec = a;
			ret = d->remove(&c);
		}
		appspec_free(a);
	}
	return ret;
}

static int do_forget(struct op *o)
{
	int ret;

	eng_lock(o->e);
	ret = plan_record_applied(o->e->st, o->app, NULL, NULL);
	if (!ret)
		ret = runtime_del(o->e->st, o->app);
	eng_unlock(o->e);
	return ret;
}

static int do_remove_dirs(struct op *o)
{
	static const char *const names[] = { "a", "b", "run", "log",
					     "current.tmp" };
	int ret = 0;

	for (size_t i = 0; !ret && i < sizeof(names) / sizeof(*names); i++)
		ret = slots_remove_entry(o->slots, names[i]);
	if (!ret && o->from_spec && o->from_spec->purge)
		ret = slots_remove_entry(o->slots, "data");
	return ret;
}

void op_remove(struct engine *e, const char *app, const char *plan_sha256,
	       struct op_result *r)
{
	struct strbuf dir = STRBUF_INIT;
	struct op o;
	int ret;

	memset(r, 0, sizeof(*r));
	r->outcome = APPLY_FAILED;
	if ((ret = op_open(&o, e, app, JOURNAL_OP_REMOVE)))
		goto fail;
	snprintf(o.plan_sha, sizeof(o.plan_sha), "%s", plan_sha256);
	load_from(&o);
	if ((ret = j_begin(&o)))
		goto fail;
	if ((ret = step(&o, JOURNAL_STOP_OLD, do_stop_both))) {
		revert(&o, error_message());
		goto fail;
	}
	/* Directories before the record: a crash in between finds the
	 * record (and with it `purge`) still there. */
	if ((ret = step(&o, JOURNAL_SWITCH, do_unlink)) ||
	    (ret = step(&o, JOURNAL_PRUNE, do_remove_dirs)) ||
	    (ret = step(&o, JOURNAL_CONFIRM, do_forget)) ||
	    (ret = j_finish(&o, JOURNAL_COMMITTED, NULL)))
		goto fail;
	/* The app directory goes too once empty (data kept: it stays). */
	strbuf_addstr(&dir, slots_path(o.slots));
	slots_free(o.slots);
	o.slots = NULL;
	(void)rmdir(dir.buf);
	r->outcome = APPLY_REMOVED;
	log_event(LOG_INFO, "apply.removed", "app removed", "app", app, NULL);
	goto out;
fail:
	snprintf(r->message, sizeof(r->message), "%s", error_message());
	log_event(LOG_ERROR, "apply.failed", r->message, "app", app, NULL);
out:
	strbuf_release(&dir);
	op_release(&o);
}

/* ---- rollback by hand ---- */

static int do_confirm_rollback(struct op *o)
{
	struct app_runtime rt;
	struct slot_report from;
	int ret;

	memset(&from, 0, sizeof(from));
	eng_lock(o->e);
	ret = plan_record_applied(o->e->st, o->app, o->spec_sha, o->commit);
	if (!ret)
		ret = runtime_get(o->e->st, o->app, &rt);
	if (!ret && !slots_verify(o->slots, o->from, &from) && from.complete) {
		snprintf(rt.held_spec, sizeof(rt.held_spec), "%s",
			 from.spec_sha256);
		snprintf(rt.held_commit, sizeof(rt.held_commit), "%.40s",
			 from.commit);
		snprintf(rt.held_reason, sizeof(rt.held_reason),
			 "rolled back by hand");
		rt.held_at = rt.changed = (long long)time(NULL);
		snprintf(rt.health, sizeof(rt.health), "healthy");
	}
	slot_report_release(&from);
	error_clear();
	if (!ret)
		ret = runtime_put(o->e->st, o->app, &rt);
	eng_unlock(o->e);
	return ret;
}

/*
 * A rollback by hand takes the data back too when the slot it returns to
 * has a snapshot from before the update that left it: stop the current
 * version first, keep its data as a snapshot ("before-rollback", also
 * what a failed rollback puts back), restore the other.
 */
static int rollback_data(struct op *o)
{
	const struct appspec *spec = data_spec(o);
	char what[16], num[24];
	uint64_t id;
	int ret;

	snprintf(what, sizeof(what), "datasnap/%c", o->to);
	if (!spec || !(id = data_mark_get(o->e, o->app, what)))
		return 0;
	if ((ret = step(o, JOURNAL_STOP_OLD, do_stop_old)))
		return ret;
	ret = op_restore_data(o->e, o->app, spec, id, "before-rollback",
			      o->commit, &o->presnap);
	if (o->presnap && data_mark_put(o->e, o->app, "presnap", o->presnap))
		error_clear();
	if (ret)
		return error_prefix(ret, "restoring the data of slot %c", o->to);
	snprintf(num, sizeof(num), "%llu", (unsigned long long)id);
	eng_event(o->e, "data-rolled-back", o->app, o->commit, num);
	return 0;
}

int op_rollback(struct engine *e, const char *app, struct op_result *r)
{
	struct slot_report rep;
	struct op o;
	int ret;

	memset(r, 0, sizeof(*r));
	memset(&rep, 0, sizeof(rep));
	r->outcome = APPLY_FAILED;
	if ((ret = op_open(&o, e, app, JOURNAL_OP_ROLLBACK)))
		goto out;
	if (!o.from) {
		ret = error_set(FURROW_ENOENT, "app %s: nothing is active",
				app);
		goto out;
	}
	o.to = o.from == 'a' ? 'b' : 'a';
	ret = slots_verify(o.slots, o.to, &rep);
	if (ret == FURROW_ENOENT || (!ret && !rep.complete)) {
		ret = error_set(FURROW_EINVAL, "app %s: slot %c holds no "
				"complete earlier version to roll back to",
				app, o.to);
		goto out;
	}
	if (ret)
		goto out;
	{
		struct app_runtime rt;
		char want[sizeof(rt.confirmed[0])];

		if ((ret = eng_runtime_get(e, app, &rt)))
			goto out;
		snprintf(want, sizeof(want), "%.64s %.40s", rep.spec_sha256,
			 rep.commit);
		if (rt.held_spec[0] && !strcmp(rt.held_spec, rep.spec_sha256) &&
		    !strcmp(rt.held_commit, rep.commit)) {
			ret = error_set(FURROW_EINVAL, "app %s: slot %c holds "
					"the update that failed (%.200s); there "
					"is no earlier version to roll back to",
					app, o.to, rt.held_reason);
			goto out;
		}
		/* Only to what once passed its health check and was
		 * confirmed: not to an update cut short and undone. */
		if (strcmp(rt.confirmed[o.to == 'a' ? 0 : 1], want)) {
			ret = error_set(FURROW_EINVAL, "app %s: slot %c holds "
					"no confirmed earlier version to roll "
					"back to (its update never completed)",
					app, o.to);
			goto out;
		}
	}
	snprintf(o.commit, sizeof(o.commit), "%.40s", rep.commit);
	snprintf(o.spec_sha, sizeof(o.spec_sha), "%s", rep.spec_sha256);
	load_from(&o);
	if (!(o.to_spec = slot_spec(e, app, o.to))) {
		ret = error_set(FURROW_EINVAL, "app %s: slot %c: its spec was "
				"not recorded; cannot start it", app, o.to);
		goto out;
	}
	if (!(o.to_drv = driver_for(o.to_spec->kind))) {
		ret = FURROW_EINVAL;
		goto out;
	}
	if ((ret = data_mark_put(e, app, "presnap", 0)) ||
	    (ret = j_begin(&o)))
		goto out;
	if ((ret = rollback_data(&o)) ||
	    (o.to_spec->strategy == APPSPEC_STOP_FIRST &&
	     (ret = step(&o, JOURNAL_STOP_OLD, do_stop_old))) ||
	    (ret = step(&o, JOURNAL_START, do_start)) ||
	    (ret = step(&o, JOURNAL_HEALTH, do_health))) {
		char reason[1024];

		snprintf(reason, sizeof(reason), "%s", o.why[0] ? o.why :
			 error_message());
		if (!revert(&o, reason))
			r->outcome = APPLY_ROLLED_BACK;
		ret = error_set(FURROW_ERR, "app %s: rollback to slot %c "
				"failed, still on slot %c: %s", app, o.to,
				o.from, reason);
		goto out;
	}
	if ((ret = step(&o, JOURNAL_SWITCH, do_switch)) ||
	    (ret = step(&o, JOURNAL_CONFIRM, do_confirm_rollback)) ||
	    (o.to_spec->strategy == APPSPEC_START_FIRST &&
	     (ret = step(&o, JOURNAL_STOP_OLD, do_stop_old))))
		goto out;
	keep_data_marks(&o);
	if ((ret = j_finish(&o, JOURNAL_COMMITTED, "by hand")))
		goto out;
	clear_presnap(&o);
	r->outcome = APPLY_APPLIED;
	r->slot = o.to;
	log_event(LOG_INFO, "apply.rolled_back_by_hand", "switched slots",
		  "app", app, "slot", slot_str(o.to), NULL);
out:
	if (ret)
		snprintf(r->message, sizeof(r->message), "%s", error_message());
	slot_report_release(&rep);
	op_release(&o);
	return ret;
}

/* ---- recovery ---- */

static int parse_slot(const char *s)
{
	return (s[0] == 'a' || s[0] == 'b') && !s[1] ? s[0] : 0;
}

int op_recover(struct engine *e, const struct journal_record *rec)
{
	enum journal_recovery act = journal_recovery_action(rec);
	struct op o;
	int ret;

	if ((ret = op_open(&o, e, rec->app, rec->op)))
		goto out;
	o.from = parse_slot(rec->from_slot);
	o.to = parse_slot(rec->to_slot);
	snprintf(o.commit, sizeof(o.commit), "%s", rec->commit);
	snprintf(o.spec_sha, sizeof(o.spec_sha), "%s", rec->spec_sha256);
	snprintf(o.plan_sha, sizeof(o.plan_sha), "%s", rec->plan_sha256);
	load_from(&o);
	o.to_spec = slot_spec(e, rec->app, o.to);
	o.to_drv = o.to_spec ? driver_for(o.to_spec->kind) : NULL;
	error_clear();
	log_event(LOG_WARN, "apply.recovering", act == JOURNAL_ROLL_FORWARD ?
		  "rolling forward" : "rolling back", "app", rec->app, "op",
		  journal_op_name(rec->op), "step", rec->doing >= 0 ?
		  journal_step_name(rec->doing) : "", NULL);
	if (act == JOURNAL_ROLL_BACK) {
		ret = revert(&o, "interrupted; rolled back at the next start");
		goto out;
	}
	/* Roll forward: the switch is done; run what is left, in order.
	 * The switch itself is made again (idempotent) so that a driver's
	 * activation cut short is completed. */
	if (rec->op == JOURNAL_OP_REMOVE) {
		ret = do_unlink(&o);
		if (!ret)
			ret = step(&o, JOURNAL_PRUNE, do_remove_dirs);
		if (!ret)
			ret = step(&o, JOURNAL_CONFIRM, do_forget);
	} else {
		ret = drv_activate(&o, o.to);
		if (!ret && !(rec->done & (1u << JOURNAL_CONFIRM)))
			ret = step(&o, JOURNAL_CONFIRM,
				   rec->op == JOURNAL_OP_ROLLBACK ?
				   do_confirm_rollback : do_confirm);
		if (!ret)
			ret = step(&o, JOURNAL_STOP_OLD, do_stop_old);
		if (!ret && rec->op == JOURNAL_OP_UPDATE)
			ret = step(&o, JOURNAL_PRUNE, do_prune);
		/* Which data goes with which slot, as the operation would
		 * have recorded it had it not been cut short. */
		if (!ret)
			keep_data_marks(&o);
	}
	if (!ret)
		ret = j_finish(&o, JOURNAL_COMMITTED, "completed at the next start");
	if (!ret && rec->op != JOURNAL_OP_REMOVE)
		clear_presnap(&o);
out:
	if (ret)
		log_event(LOG_ERROR, "apply.recovery_failed", error_message(),
			  "app", rec->app, NULL);
	op_release(&o);
	return ret;
}
