/*
 * apply_drift.c - compare what runs with what was applied, and repair.
 *
 * Checked on every pass for every applied app, cheapest first:
 *
 *   - no active slot, the active slot missing, incomplete, or a file in
 *     it changed, deleted or added: the active slot cannot be trusted, so
 *     it is redeployed through the other slot - staged from the same
 *     commit and spec, started, health-checked, switched - while the
 *     drifted one keeps running;
 *   - the workload not running (a crashed service, a deleted target
 *     link): started again in place;
 *   - the inactive slot's service still running (a leftover): stopped.
 *
 * A pass with no drift writes nothing to the store: a no-op pass over
 * many apps must stay cheap (reads, stats and hashes only).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "apply_int.h"
#include "config.h"
#include "driver.h"
#include "error.h"
#include "health.h"
#include "log.h"
#include "slots.h"
#include "store.h"
#include "value.h"
#include "banned.h"

static void describe(char *out, size_t size, int slot,
		     const struct slot_report *rep)
{
	const struct slot_drift *d = &rep->drift[0];

	snprintf(out, size, "drift: slot %c: %s %s%s", slot,
		 d->kind == SLOT_DRIFT_MISSING ? "missing" :
		 d->kind == SLOT_DRIFT_CHANGED ? "changed" : "unexpected",
		 d->path, rep->ndrift > 1 ? " (and more)" : "");
}

/* Start the active slot's workload again; record the repair. */
static void restart(struct engine *e, const char *app, struct slots *s,
		    int slot, const struct appspec *spec,
		    const struct driver *d, const char *commit,
		    const char *why, struct op_result *r)
{
	struct driver_ctx c = { e->cfg, app, s, spec, commit };
	struct app_runtime rt;
	int ret;

	ret = d->start(&c, slot);
	if (!ret)
		ret = d->activate(&c);
	if (ret) {
		r->outcome = APPLY_FAILED;
		snprintf(r->message, sizeof(r->message), "%s; repair failed: %s",
			 why, error_message());
		log_event(LOG_ERROR, "apply.repair_failed", r->message, "app",
			  app, NULL);
		return;
	}
	r->outcome = APPLY_REPAIRED;
	snprintf(r->message, sizeof(r->message), "drift: %s; started again",
		 why);
	/* Not repaired until it answers again. */
	if (spec->health.kind != APPSPEC_HEALTH_NONE) {
		struct health_env env = { 0 };
		struct health_result hr;
		struct exec_target xt;
		char dir[4096];

		snprintf(dir, sizeof(dir), "%s/%c", slots_path(s), slot);
		env.slot_dir = dir;
		health_env_for(&env, &xt, d, &c, slot);
		health_wait(&hr, &spec->health, &env, NULL, NULL);
		if (hr.state != HEALTH_HEALTHY) {
			r->outcome = APPLY_FAILED;
			snprintf(r->message, sizeof(r->message), "drift: %.400s; "
				 "started again but unhealthy: %.500s", why,
				 hr.message);
		}
	}
	eng_history(e, app, "drift-repair", slot, slot, commit, r->message);
	if (!eng_runtime_get(e, app, &rt)) {
		if (spec->kind == APPSPEC_SERVICE)
			rt.restarts++;
		rt.drift_repairs++;
		eng_runtime_put(e, app, &rt);
	}
	log_event(LOG_WARN, "apply.drift_repaired", r->message, "app", app,
		  NULL);
}

/* Stop a leftover workload in the inactive slot.  A service is found by
 * its pid file alone (no spec); a unit or container by the driver of the
 * spec that slot was staged from. */
static void stop_stray(struct engine *e, const char *app, struct slots *s,
		       int slot, int kind)
{
	struct driver_ctx c = { e->cfg, app, s, NULL, "" };
	char why[256];

	if (kind != APPSPEC_SERVICE) {
		struct appspec *a = slot_spec(e, app, slot);
		const struct driver *d = a ? driver_for(a->kind) : NULL;

		error_clear();
		c.spec = a;
		if (d && d->kind != APPSPEC_FILES &&
		    d->running(&c, slot, why, sizeof(why)) == 1) {
			log_event(LOG_WARN, "apply.stray_stopped", "the inactive "
				  "slot was running", "app", app, NULL);
			if (d->stop(&c, slot))
				log_event(LOG_WARN, "apply.stray_stop_failed",
					  error_message(), "app", app, NULL);
		}
		error_clear();
		appspec_free(a);
		return;
	}
	if (driver_service.running(&c, slot, why, sizeof(why)) == 1) {
		log_event(LOG_WARN, "apply.stray_stopped", "the inactive slot "
			  "was running", "app", app, NULL);
		if (driver_service.stop(&c, slot))
			log_event(LOG_WARN, "apply.stray_stop_failed",
				  error_message(), "app", app, NULL);
	}
	error_clear();
}

/* The kind named name, or -1. */
static int kind_of(const char *name)
{
	for (int k = APPSPEC_CONTAINER; name && k <= APPSPEC_FILES; k++)
		if (!strcmp(appspec_kind_name((enum appspec_kind)k), name))
			return k;
	return -1;
}

void drift_check(struct engine *e, const char *app, const char *kind,
		 const struct value *desired_value, const char *spec_sha256,
		 const char *commit, const char *plan_sha256,
		 struct op_result *r)
{
	int hint = kind_of(kind);
	struct slot_report rep;
	struct slots *s = NULL;
	struct appspec *spec = NULL;
	struct value *recorded = NULL;
	const struct driver *d;
	char why[1024];
	int active, ret;

	memset(r, 0, sizeof(*r));
	memset(&rep, 0, sizeof(rep));
	r->outcome = APPLY_UNCHANGED;
	why[0] = 0;
	if ((ret = slots_open(&s, e->cfg->state_dir, app))) {
		r->outcome = APPLY_FAILED;
		snprintf(r->message, sizeof(r->message), "%s", error_message());
		return;
	}
	active = slots_active(s);
	r->slot = active;
	if (!active) {
		snprintf(why, sizeof(why), "drift: no slot is active");
		goto redeploy;
	}
	ret = slots_verify(s, active, &rep);
	if (ret == FURROW_ENOENT) {
		snprintf(why, sizeof(why), "drift: slot %c is missing", active);
		goto redeploy;
	}
	if (ret) {
		r->outcome = APPLY_FAILED;
		snprintf(r->message, sizeof(r->message), "%s", error_message());
		goto out;
	}
	if (!rep.complete) {
		snprintf(why, sizeof(why), "drift: slot %c is incomplete",
			 active);
		goto redeploy;
	}
	if (rep.ndrift) {
		describe(why, sizeof(why), active, &rep);
		goto redeploy;
	}
	/* A service is checked by its pid file alone; its spec is only
	 * parsed for a restart (a no-op pass over many apps stays cheap). */
	if (hint == APPSPEC_SERVICE) {
		d = &driver_service;
	} else if (!(spec = slot_spec(e, app, active)) ||
		   !(d = driver_for(spec->kind))) {
		snprintf(why, sizeof(why), "drift: slot %c: %s", active,
			 error_message());
		goto redeploy;
	}
	{
		struct driver_ctx c = { e->cfg, app, s, spec, rep.commit };
		char state[512];

		ret = d->running(&c, active, state, sizeof(state));
		if (ret < 0) {
			r->outcome = APPLY_FAILED;
			snprintf(r->message, sizeof(r->message), "%s",
				 error_message());
			goto out;
		}
		if (ret == 0 && !spec && !(spec = slot_spec(e, app, active))) {
			snprintf(why, sizeof(why), "drift: slot %c: %s", active,
				 error_message());
			goto redeploy;
		}
		if (ret == 0)
			restart(e, app, s, active, spec, d, rep.commit, state, r);
	}
	stop_stray(e, app, s, active == 'a' ? 'b' : 'a',
		   spec ? (int)spec->kind : hint);
	goto out;
redeploy:
	error_clear();
	slot_report_release(&rep);
	slots_free(s);
	s = NULL;
	log_event(LOG_WARN, "apply.drift", why, "app", app, NULL);
	/* Without a desired spec (its change is deferred or held), what
	 * runs is redeployed from the spec its slot was staged from. */
	if (!desired_value && active) {
		eng_lock(e);
		if (runtime_spec_get(e->st, app, active, &recorded))
			error_clear();
		eng_unlock(e);
		desired_value = recorded;
	}
	if (!desired_value) {
		r->outcome = APPLY_FAILED;
		snprintf(r->message, sizeof(r->message), "%.900s; nothing "
			 "recorded to redeploy it from", why);
		goto out;
	}
	/* The update's own history entry carries why (the drift). */
	op_update(e, app, desired_value, spec_sha256, commit, plan_sha256, why,
		  r);
out:
	value_free(recorded);
	appspec_free(spec);
	slot_report_release(&rep);
	slots_free(s);
}
