/*
 * apply.c - one pass of the apply engine (apply.h): recover, sync, plan,
 * then work the plan's items with up to apply.parallel threads.
 *
 * Scheduling.  Items come in dependency order.  A worker takes the first
 * waiting item whose dependencies (among this pass's items) are done; if
 * one of them did not end well (anything but unchanged, applied or
 * repaired) the item is skipped - a dependent never starts against a
 * dependency that failed, was held or deferred.  Removals depend on
 * nothing and are worked in the order the plan gives.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apply_int.h"
#include "bug.h"
#include "config.h"
#include "error.h"
#include "log.h"
#include "plan.h"
#include "store.h"
#include "sync.h"
#include "value.h"
#include "banned.h"

/* ---- the engine's shared state ---- */

void eng_init(struct engine *e, const struct config *cfg, struct store *st,
	      volatile sig_atomic_t *stop)
{
	memset(e, 0, sizeof(*e));
	e->cfg = cfg;
	e->st = st;
	e->stop = stop;
	e->now = (long long)time(NULL);
	if (pthread_mutex_init(&e->lock, NULL))
		BUG("pthread_mutex_init");
}

void eng_release(struct engine *e)
{
	pthread_mutex_destroy(&e->lock);
}

void eng_lock(struct engine *e)
{
	pthread_mutex_lock(&e->lock);
}

void eng_unlock(struct engine *e)
{
	pthread_mutex_unlock(&e->lock);
}

void eng_event(struct engine *e, const char *name, const char *app,
	       const char *commit, const char *message)
{
	if (e->event)
		e->event(e->event_arg, name, app, commit, message);
}

int eng_stopping(const struct engine *e)
{
	return e->stop && *e->stop;
}

int eng_history(struct engine *e, const char *app, const char *event,
		int from, int to, const char *commit, const char *reason)
{
	char f[2] = { (char)from, 0 }, t[2] = { (char)to, 0 };
	struct history_entry h = { 0, (long long)time(NULL), app, event, f, t,
				   commit ? commit : "", reason ? reason : "" };
	int ret;

	eng_lock(e);
	ret = history_append(e->st, &h);
	eng_unlock(e);
	return ret;
}

int eng_runtime_get(struct engine *e, const char *app, struct app_runtime *rt)
{
	int ret;

	eng_lock(e);
	ret = runtime_get(e->st, app, rt);
	eng_unlock(e);
	return ret;
}

int eng_runtime_put(struct engine *e, const char *app,
		    const struct app_runtime *rt)
{
	int ret;

	eng_lock(e);
	ret = runtime_put(e->st, app, rt);
	eng_unlock(e);
	return ret;
}

/* ---- names and classes ---- */

const char *apply_outcome_name(enum apply_outcome o)
{
	static const char *const names[] = {
		"unchanged", "applied", "removed", "repaired", "deferred",
		"denied", "held", "rolled-back", "skipped", "failed",
	};

	if ((unsigned)o >= sizeof(names) / sizeof(*names))
		BUG("apply outcome %d", (int)o);
	return names[o];
}

int apply_result_class(const struct apply_result *r)
{
	int rolled = 0, failed = 0, deferred = 0;

	for (size_t i = 0; i < r->count; i++) {
		enum apply_outcome o = r->apps[i].outcome;

		rolled |= o == APPLY_ROLLED_BACK || o == APPLY_HELD;
		failed |= o == APPLY_FAILED;
		deferred |= o == APPLY_DEFERRED || o == APPLY_DENIED ||
			    o == APPLY_SKIPPED;
	}
	if (r->verify_error)
		return 3;
	if (rolled)
		return 5;
	if (failed)
		return 1;
	if (deferred)
		return 4;
	return 0;
}

/* ---- recovery ---- */

static int count_one(const struct journal_record *rec, void *arg)
{
	(void)rec;
	++*(unsigned *)arg;
	return 0;
}

static int recover_one(const struct journal_record *rec, void *arg)
{
	struct engine *e = arg;

	return op_recover(e, rec);
}

static int recover(struct engine *e)
{
	unsigned before = 0;
	int ret;

	/* Counted by the records present, so a failing record that stays
	 * is not counted as finished. */
	ret = journal_pending(e->st, count_one, &before);
	if (ret)
		return ret;
	if (!before)
		return 0;
	ret = journal_pending(e->st, recover_one, e);
	return ret ? ret : (int)before;
}

int apply_recover(const struct config *cfg, struct store *st)
{
	struct engine e;
	int ret;

	eng_init(&e, cfg, st, NULL);
	ret = recover(&e);
	eng_release(&e);
	return ret;
}

/* ---- effective specs ---- */

/* dst = a copy of spec with adjust overlaid: tables merge, other values
 * replace (the policies' adjustments, plan.h). */
static void overlay(struct value *dst, const struct value *spec,
		    const struct value *adjust)
{
	value_copy_into(dst, spec);
	if (!adjust || adjust->type != VALUE_TABLE || dst->type != VALUE_TABLE)
		return;
	for (size_t i = 0; i < adjust->u.table.count; i++) {
		const struct value_entry *a = &adjust->u.table.entries[i];
		struct value *slot = NULL;

		if (a->key.type != VALUE_STRING)
			continue;
		for (size_t j = 0; j < dst->u.table.count; j++) {
			struct value_entry *d = &dst->u.table.entries[j];

			if (d->key.type == VALUE_STRING &&
			    !strcmp(d->key.u.string.ptr, a->key.u.string.ptr))
				slot = &d->val;
		}
		if (slot) {
			struct value old = *slot;

			memset(slot, 0, sizeof(*slot));
			if (old.type == VALUE_TABLE && a->val.type == VALUE_TABLE)
				overlay(slot, &old, &a->val);
			else
				value_copy_into(slot, &a->val);
			value_clear(&old);
		} else {
			value_copy_into(value_put(dst, a->key.u.string.ptr),
					&a->val);
		}
	}
	value_sort(dst);
}

/* ---- the work ---- */

enum { W_WAITING, W_RUNNING, W_DONE };

struct work {
	const struct plan_item *it;
	struct value *eff;          /* effective spec; NULL for a removal */
	struct appspec *spec;       /* parsed eff, for depends_on */
	const char *applied_commit; /* from the "apps" table, or NULL */
	int state;
	struct op_result r;
};

struct pass {
	struct engine *e;
	const struct plan *p;
	int plan_changed;           /* not the last pass's plan hash */
	struct work *w;
	size_t n;
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

static int good(enum apply_outcome o)
{
	return o == APPLY_UNCHANGED || o == APPLY_APPLIED ||
	       o == APPLY_REPAIRED;
}

static struct work *find(struct pass *ps, const char *app)
{
	for (size_t i = 0; i < ps->n; i++)
		if (!strcmp(ps->w[i].it->app, app))
			return &ps->w[i];
	return NULL;
}

/* 1 ready, 0 not yet, -1 skip (a dependency did not end well). */
static int ready(struct pass *ps, struct work *w, char *why, size_t size)
{
	if (!w->spec)
		return 1;
	for (size_t i = 0; i < w->spec->depends_count; i++) {
		struct work *d = find(ps, w->spec->depends_on[i]);

		if (!d)
			continue;
		if (d->state != W_DONE)
			return 0;
		if (!good(d->r.outcome)) {
			snprintf(why, size, "depends on %s, which was %s",
				 d->it->app, apply_outcome_name(d->r.outcome));
			return -1;
		}
	}
	return 1;
}

/* Is spec held for this commit?  Fills r if so. */
static int held(struct pass *ps, struct work *w, struct op_result *r)
{
	const struct config *cfg = ps->e->cfg;
	struct app_runtime rt;

	if (eng_runtime_get(ps->e, w->it->app, &rt) || !rt.held_spec[0] ||
	    strcmp(rt.held_spec, w->it->spec_sha256) ||
	    strcmp(rt.held_commit, ps->p->commit))
		return 0;
	if (cfg->apply.retry_failed > 0 &&
	    (double)ps->e->now >= (double)rt.held_at + cfg->apply.retry_failed)
		return 0;
	r->outcome = APPLY_HELD;
	snprintf(r->message, sizeof(r->message), "not retried on this commit%s:"
		 " %s", cfg->apply.retry_failed > 0 ? " yet" : "",
		 rt.held_reason);
	return 1;
}

/* Keep what runs in shape while its change waits; r keeps the verdict
 * unless the check found something worse. */
static void check_running(struct pass *ps, struct work *w, struct op_result *r)
{
	struct op_result d;

	if (!w->applied_commit)
		return;
	drift_check(ps->e, w->it->app, NULL, NULL, w->it->current_sha256,
		    w->applied_commit, ps->p->sha256, &d);
	if (d.outcome == APPLY_FAILED || d.outcome == APPLY_ROLLED_BACK) {
		*r = d;
	} else if (d.outcome == APPLY_REPAIRED && r->message[0]) {
		size_t len = strlen(r->message);

		snprintf(r->message + len, sizeof(r->message) - len, "; %s",
			 d.message);
	}
	r->slot = d.slot;
}

static void do_item(struct pass *ps, struct work *w)
{
	const struct plan_item *it = w->it;
	struct op_result *r = &w->r;

	memset(r, 0, sizeof(*r));
	if (it->verdict != POLICY_ALLOW) {
		r->outcome = it->verdict == POLICY_DENY ? APPLY_DENIED :
			     APPLY_DEFERRED;
		snprintf(r->message, sizeof(r->message), "%s%s%s",
			 it->policy ? it->policy : "policy",
			 it->reason ? ": " : "", it->reason ? it->reason : "");
		check_running(ps, w, r);
		return;
	}
	switch (it->action) {
	case PLAN_REMOVE:
		op_remove(ps->e, it->app, ps->p->sha256, r);
		return;
	case PLAN_UNCHANGED:
		drift_check(ps->e, it->app, it->kind, w->eff, it->spec_sha256,
			    w->applied_commit ? w->applied_commit : ps->p->commit,
			    ps->p->sha256, r);
		return;
	case PLAN_CREATE:
	case PLAN_UPDATE:
		if (held(ps, w, r)) {
			check_running(ps, w, r);
			return;
		}
		op_update(ps->e, it->app, w->eff, it->spec_sha256,
			  ps->p->commit, ps->p->sha256, "update", r);
		return;
	}
}

/* The event for an item's outcome, if it is one worth sending. */
static void announce(struct pass *ps, const struct work *w)
{
	const char *name = NULL, *msg = w->r.message[0] ? w->r.message : NULL;

	switch (w->r.outcome) {
	case APPLY_APPLIED: name = "update-succeeded"; break;
	case APPLY_REMOVED: name = "removed"; break;
	case APPLY_ROLLED_BACK: name = "update-rolled-back"; break;
	case APPLY_FAILED: name = "update-failed"; break;
	case APPLY_REPAIRED: name = "drift-repaired"; break;
	case APPLY_DEFERRED:
		if (ps->plan_changed)
			name = "policy-deferred";
		break;
	case APPLY_DENIED:
		if (ps->plan_changed)
			name = "policy-denied";
		break;
	default:
		break;
	}
	if (name)
		eng_event(ps->e, name, w->it->app, ps->p->commit, msg);
}

static void *worker(void *arg)
{
	struct pass *ps = arg;

	pthread_mutex_lock(&ps->mu);
	for (;;) {
		struct work *next = NULL;
		int waiting = 0, skipped = 0;

		for (size_t i = 0; i < ps->n && !next; i++) {
			struct work *w = &ps->w[i];
			char why[512];
			int rd;

			if (w->state != W_WAITING)
				continue;
			rd = ready(ps, w, why, sizeof(why));
			if (rd < 0) {
				w->state = W_DONE;
				w->r.outcome = APPLY_SKIPPED;
				snprintf(w->r.message, sizeof(w->r.message),
					 "%s", why);
				pthread_cond_broadcast(&ps->cv);
				skipped = 1;
			} else if (rd > 0) {
				next = w;
			} else {
				waiting = 1;
			}
		}
		/* A skip may decide items scanned before it: look again
		 * rather than wait for a wake-up nobody will send. */
		if (!next && skipped)
			continue;
		if (!next && !waiting)
			break;
		if (!next) {
			pthread_cond_wait(&ps->cv, &ps->mu);
			continue;
		}
		next->state = W_RUNNING;
		pthread_mutex_unlock(&ps->mu);
		if (eng_stopping(ps->e)) {
			next->r.outcome = APPLY_SKIPPED;
			snprintf(next->r.message, sizeof(next->r.message),
				 "furrow is stopping");
		} else {
			do_item(ps, next);
			announce(ps, next);
		}
		pthread_mutex_lock(&ps->mu);
		next->state = W_DONE;
		pthread_cond_broadcast(&ps->cv);
	}
	pthread_mutex_unlock(&ps->mu);
	return NULL;
}

static void run_workers(struct pass *ps)
{
	size_t n = (size_t)ps->e->cfg->apply.parallel, slow = 0;
	pthread_t *t;
	size_t started = 0;

	/* Threads pay off when apps wait (starts, health checks); a pass of
	 * drift checks only is quicker on one (no cross-core churn). */
	for (size_t i = 0; i < ps->n; i++)
		slow += ps->w[i].it->action != PLAN_UNCHANGED &&
			ps->w[i].it->verdict == POLICY_ALLOW;
	if (n > slow)
		n = slow;
	if (n < 1)
		n = 1;
	pthread_mutex_init(&ps->mu, NULL);
	pthread_cond_init(&ps->cv, NULL);
	/* One worker runs on this thread; the others are extra. */
	t = xcalloc(n ? n : 1, sizeof(*t));
	for (size_t i = 1; i < n; i++)
		if (!pthread_create(&t[started], NULL, worker, ps))
			started++;
	worker(ps);
	for (size_t i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	free(t);
	pthread_cond_destroy(&ps->cv);
	pthread_mutex_destroy(&ps->mu);
}

/* ---- the pass ---- */

static void set_text(char **dst, const char *s)
{
	free(*dst);
	*dst = xstrdup(s);
}

static void do_sync(struct apply_result *out, struct engine *e,
		    const struct apply_options *o)
{
	struct sync_options so = { o->bundle, 0, 0, 0 };
	struct sync_result sr;
	struct sync_state before;
	int ret, known = 0;

	memset(&sr, 0, sizeof(sr));
	memset(&before, 0, sizeof(before));
	if (sync_state_load(&before, e->st, e->cfg->state_dir))
		error_clear();
	ret = sync_run(&sr, e->cfg, e->st, &so);
	if (ret == FURROW_EVERIFY) {
		set_text(&out->verify_error, error_message());
		/* One event per new failure, not one per pass. */
		known = before.verify_error &&
			!strcmp(before.verify_error, error_message());
		if (!known)
			eng_event(e, "verify-failed", NULL, NULL,
				  out->verify_error);
	}
	else if (ret)
		set_text(&out->fetch_error, error_message());
	if (ret)
		log_event(LOG_WARN, "apply.sync_failed", "going on with the "
			  "commit accepted before", "error", error_message(),
			  NULL);
	sync_result_release(&sr);
	sync_state_release(&before);
}

/* What status shows as "applied": the last pass's commit and plan. */
static void record_pass(struct engine *e, const struct apply_result *r,
			const char *signer)
{
	struct value *v = value_new(VALUE_TABLE);

	value_put_str(v, "commit", r->commit);
	value_put_str(v, "plan_sha256", r->plan_sha256);
	if (r->has_serial)
		value_put_int(v, "serial", r->serial);
	if (signer)
		value_put_str(v, "signer", signer);
	value_put_int(v, "time", (long long)time(NULL));
	value_put_int(v, "exit", apply_result_class(r));
	value_sort(v);
	if (runtime_pass_put(e->st, v)) {
		log_event(LOG_WARN, "apply.record_failed", error_message(), NULL);
		error_clear();
	}
	value_free(v);
}

/* 1 unless the last pass planned exactly this (same plan hash). */
static int plan_differs(struct store *st, const char *sha)
{
	struct value *last = NULL;
	const struct value *h;
	int differs = 1;

	if (!runtime_pass_get(st, &last)) {
		h = value_get(last, "plan_sha256");
		differs = !h || h->type != VALUE_STRING ||
			  strcmp(h->u.string.ptr, sha);
	}
	error_clear();
	value_free(last);
	return differs;
}

static const char *applied_commit(const struct value *applied, const char *app)
{
	const struct value *c = value_get(value_get(applied, app), "commit");

	return c && c->type == VALUE_STRING ? c->u.string.ptr : NULL;
}

int apply_pass(struct apply_result *out, const struct config *cfg,
	       struct store *st, const struct apply_options *opts)
{
	struct sync_state ss;
	struct plan *p = NULL;
	struct value *applied = NULL;
	struct plan_inputs in;
	struct engine e;
	struct pass ps;
	struct timespec t0, t1;
	int ret;

	memset(out, 0, sizeof(*out));
	memset(&ss, 0, sizeof(ss));
	memset(&ps, 0, sizeof(ps));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	eng_init(&e, cfg, st, opts->stop);
	e.event = opts->event;
	e.event_arg = opts->event_arg;
	if (opts->now)
		e.now = opts->now;
	if ((ret = recover(&e)) < 0)
		goto out;
	out->recovered = (unsigned)ret;
	if (!opts->no_sync)
		do_sync(out, &e, opts);
	if ((ret = sync_state_load(&ss, st, cfg->state_dir)))
		goto out;
	if (!ss.accepted[0]) {
		ret = error_set(FURROW_ENOENT, "nothing accepted yet%s%s",
				out->fetch_error ? ": " : "",
				out->fetch_error ? out->fetch_error : "");
		goto out;
	}
	in.commit = ss.accepted;
	in.commit_time = ss.accepted_commit_time;
	in.signer = ss.signer;
	in.now = e.now;
	if ((ret = plan_build(&p, cfg, st, &in)))
		goto out;
	if ((ret = plan_applied_load(&applied, st)))
		goto out;
	snprintf(out->commit, sizeof(out->commit), "%s", p->commit);
	snprintf(out->plan_sha256, sizeof(out->plan_sha256), "%s", p->sha256);
	out->has_serial = p->has_serial;
	out->serial = p->serial;

	ps.e = &e;
	ps.p = p;
	ps.plan_changed = plan_differs(st, p->sha256);
	ps.n = p->count;
	ps.w = xcalloc(p->count + 1, sizeof(*ps.w));
	for (size_t i = 0; i < p->count; i++) {
		struct work *w = &ps.w[i];

		w->it = &p->items[i];
		w->applied_commit = applied_commit(applied, w->it->app);
		if (!w->it->spec)
			continue;
		w->eff = value_new(VALUE_NIL);
		overlay(w->eff, w->it->spec, w->it->adjust);
		if (spec_parse(&w->spec, w->it->app, w->eff))
			error_clear();   /* op_update reports it */
	}
	if (ps.n)
		run_workers(&ps);
	out->apps = xcalloc(ps.n + 1, sizeof(*out->apps));
	for (size_t i = 0; i < ps.n; i++) {
		struct apply_app *a = &out->apps[out->count++];
		const struct work *w = &ps.w[i];

		a->app = xstrdup(w->it->app);
		a->kind = w->it->kind ? xstrdup(w->it->kind) : NULL;
		a->action = w->it->action;
		a->outcome = w->r.outcome;
		a->message = w->r.message[0] ? xstrdup(w->r.message) : NULL;
		a->slot = w->r.slot;
	}
	record_pass(&e, out, ss.signer);
	ret = 0;
out:
	for (size_t i = 0; i < ps.n; i++) {
		value_free(ps.w[i].eff);
		appspec_free(ps.w[i].spec);
	}
	free(ps.w);
	value_free(applied);
	plan_free(p);
	sync_state_release(&ss);
	eng_release(&e);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	out->seconds = (double)(t1.tv_sec - t0.tv_sec) +
		       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	return ret;
}

int apply_rollback(const struct config *cfg, struct store *st,
		   const char *app)
{
	struct op_result r;
	struct engine e;
	int ret;

	eng_init(&e, cfg, st, NULL);
	ret = recover(&e);
	if (ret >= 0)
		ret = op_rollback(&e, app, &r);
	eng_release(&e);
	return ret;
}

void apply_result_release(struct apply_result *r)
{
	for (size_t i = 0; i < r->count; i++) {
		free(r->apps[i].app);
		free(r->apps[i].kind);
		free(r->apps[i].message);
	}
	free(r->apps);
	free(r->fetch_error);
	free(r->verify_error);
	memset(r, 0, sizeof(*r));
}
