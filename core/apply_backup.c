/*
 * apply_backup.c - backups of applied apps: what the active slot's spec
 * asks for (backup.paths, pre, stop, keep, schedules, targets), run
 * through the backup store (backup.h) with the engine's drivers, so an
 * app can be stopped around its snapshot and a container's pre hook runs
 * inside it.  Also the data side of updates: snapshot_before_update and
 * the data rollback that goes with an app rollback.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "apply_int.h"
#include "appname.h"
#include "backup.h"
#include "config.h"
#include "error.h"
#include "health.h"
#include "log.h"
#include "plan.h"
#include "slots.h"
#include "store.h"
#include "strbuf.h"
#include "value.h"
#include "banned.h"

/* How long an operation waits for another one on the backup store. */
#define BACKUP_WAIT_SECONDS 600u
/* A pre hook gets this long. */
#define PRE_HOOK_SECONDS 600.0
/* A failed scheduled backup is tried again after this long at most. */
#define RETRY_SECONDS 900LL

static void data_dir_of(struct strbuf *sb, const struct config *cfg,
			const char *app)
{
	strbuf_addf(sb, "%s/apps/%s/data", cfg->state_dir, app);
}

/* The driver's view of app's active slot, for its hooks. */
static void ctx_of(struct driver_ctx *c, struct engine *e, struct slots *slots,
		   const char *app, const struct appspec *spec)
{
	memset(c, 0, sizeof(*c));
	c->cfg = e->cfg;
	c->app = app;
	c->slots = slots;
	c->spec = spec;
	c->commit = "";
}

/* Run backup.pre like an exec health check: inside the container, or on
 * the host in the slot directory. */
int op_backup_pre(struct engine *e, struct slots *slots, const char *app,
		  const struct appspec *spec, int slot)
{
	struct appspec_health h;
	struct health_env env = { 0 };
	struct health_result hr;
	struct exec_target xt;
	struct driver_ctx c;
	struct strbuf dir = STRBUF_INIT;
	const struct driver *d = driver_for(spec->kind);

	if (!spec->backup.pre.argc)
		return 0;
	memset(&h, 0, sizeof(h));
	h.kind = APPSPEC_HEALTH_EXEC;
	h.exec = spec->backup.pre;
	h.timeout = PRE_HOOK_SECONDS;
	ctx_of(&c, e, slots, app, spec);
	strbuf_addf(&dir, "%s/%c", slots_path(slots), slot);
	env.slot_dir = dir.buf;
	if (d)
		health_env_for(&env, &xt, d, &c, slot);
	health_probe(&hr, &h, &env);
	strbuf_release(&dir);
	if (hr.state != HEALTH_HEALTHY)
		return error_set(FURROW_ERR, "app %s: backup.pre failed: %s",
				 app, hr.message);
	return 0;
}

static int stop_or_start(struct engine *e, struct slots *slots,
			 const char *app, const struct appspec *spec, int slot,
			 int start)
{
	const struct driver *d = driver_for(spec->kind);
	struct driver_ctx c;
	int ret;

	if (!d)
		return FURROW_EINVAL;
	ctx_of(&c, e, slots, app, spec);
	if (!start)
		return d->stop(&c, slot);
	if ((ret = d->start(&c, slot)))
		return ret;
	if (spec->health.kind != APPSPEC_HEALTH_NONE) {
		struct health_env env = { 0 };
		struct health_result hr;
		struct exec_target xt;
		struct strbuf dir = STRBUF_INIT;

		strbuf_addf(&dir, "%s/%c", slots_path(slots), slot);
		env.slot_dir = dir.buf;
		health_env_for(&env, &xt, d, &c, slot);
		health_wait(&hr, &spec->health, &env, NULL, NULL);
		strbuf_release(&dir);
		if (hr.state != HEALTH_HEALTHY)
			log_event(LOG_ERROR, "backup.restart_unhealthy",
				  hr.message, "app", app, NULL);
	}
	return 0;
}

/* What op_snapshot_data() and op_restore_data() snapshot: spec's
 * backup.paths of app's data directory (data: its path, kept by the
 * caller). */
static void request_for(struct backup_request *req, struct strbuf *data,
			struct engine *e, const char *app,
			const struct appspec *spec, const char *tag,
			const char *commit)
{
	data_dir_of(data, e->cfg, app);
	memset(req, 0, sizeof(*req));
	req->app = app;
	req->data_dir = data->buf;
	req->paths = spec->backup.paths;
	req->npaths = spec->backup.path_count;
	req->tag = tag;
	req->commit = commit;
}

int op_snapshot_data(struct engine *e, const char *app,
		     const struct appspec *spec, const char *tag,
		     const char *commit, struct backup_info *out)
{
	struct backup_store *bs = NULL;
	struct backup_request req;
	struct strbuf data = STRBUF_INIT;
	int ret;

	request_for(&req, &data, e, app, spec, tag, commit);
	if (!(ret = backup_open(&bs, e->cfg, 1, BACKUP_WAIT_SECONDS))) {
		ret = backup_take(bs, &req, out);
		if (ret) {
			char msg[FURROW_ERROR_MAX];
			int code = error_code();

			snprintf(msg, sizeof(msg), "%s", error_message());
			backup_note_error(bs, app, msg);
			error_set(code ? code : ret, "%s", msg);
		}
	}
	backup_close(bs);
	strbuf_release(&data);
	return ret;
}

int op_restore_data(struct engine *e, const char *app,
		    const struct appspec *spec, uint64_t id, const char *save_tag,
		    const char *commit, uint64_t *saved_id)
{
	struct backup_store *bs = NULL;
	struct backup_request req;
	struct backup_info saved, want;
	struct strbuf data = STRBUF_INIT;
	char num[24];
	int ret;

	request_for(&req, &data, e, app, spec, save_tag, commit);
	if ((ret = backup_open(&bs, e->cfg, 1, BACKUP_WAIT_SECONDS)))
		goto out;
	/* The snapshot to put back must still be there (retention may have
	 * dropped it) and be this app's: else nothing is saved or touched,
	 * rather than a snapshot kept for good per attempt. */
	snprintf(num, sizeof(num), "%llu", (unsigned long long)id);
	if ((ret = backup_find(bs, app, num, &want)))
		goto out;
	/* What the data looks like now is kept, never dropped silently:
	 * the failed attempt's state is a snapshot of its own. */
	if ((ret = backup_take(bs, &req, &saved)))
		goto out;
	if (saved_id)
		*saved_id = saved.id;
	ret = backup_restore_in_place(bs, id, data.buf);
	if (!ret) {
		char a[24], b[24];

		snprintf(a, sizeof(a), "%llu", (unsigned long long)id);
		snprintf(b, sizeof(b), "%llu", (unsigned long long)saved.id);
		log_event(LOG_WARN, "backup.data_rolled_back", "data restored "
			  "to the snapshot taken before the update", "app", app,
			  "snapshot", a, "saved_as", b, NULL);
	}
out:
	backup_close(bs);
	strbuf_release(&data);
	return ret;
}

/* ---- the commands' and the daemon's entry points ---- */

struct job {
	struct engine e;
	struct slots *slots;
	struct appspec *spec;
	int slot;
};

static int job_open(struct job *j, const struct config *cfg,
		    struct store *st, const char *app)
{
	int ret;

	memset(j, 0, sizeof(*j));
	eng_init(&j->e, cfg, st, NULL);
	if (!app_name_valid(app))
		return error_set(FURROW_EINVAL, "'%s' is not an app name", app);
	if ((ret = slots_open(&j->slots, cfg->state_dir, app)))
		return ret;
	j->slot = slots_active(j->slots);
	if (!j->slot)
		return error_set(FURROW_ENOENT, "app %s is not applied on this "
				 "host", app);
	if (!(j->spec = slot_spec(&j->e, app, j->slot)))
		return error_prefix(FURROW_ENOENT, "app %s", app);
	if (!j->spec->backup.enabled)
		return error_set(FURROW_EINVAL, "app %s declares no backup "
				 "(backup = { paths = { ... } } in furrow.lua)",
				 app);
	return 0;
}

static void job_close(struct job *j)
{
	appspec_free(j->spec);
	slots_free(j->slots);
	eng_release(&j->e);
}

/* The commit the app was applied from, for the snapshot record. */
static const char *applied_commit(struct store *st, const char *app,
				  char out[41])
{
	struct value *applied = NULL;
	const struct value *c;

	out[0] = '\0';
	if (!plan_applied_load(&applied, st) &&
	    (c = value_get(value_get(applied, app), "commit")) &&
	    c->type == VALUE_STRING)
		snprintf(out, 41, "%s", c->u.string.ptr);
	error_clear();
	value_free(applied);
	return out;
}

int apply_backup(const struct config *cfg, struct store *st, const char *app,
		 const char *tag, struct backup_info *out)
{
	char commit[41];
	struct job j;
	struct backup_store *bs = NULL;
	int ret, stopped = 0;

	memset(out, 0, sizeof(*out));
	if ((ret = job_open(&j, cfg, st, app)))
		goto out;
	if ((ret = op_backup_pre(&j.e, j.slots, app, j.spec, j.slot)))
		goto note;
	if (j.spec->backup.stop) {
		if ((ret = stop_or_start(&j.e, j.slots, app, j.spec, j.slot, 0)))
			goto note;
		stopped = 1;
	}
	ret = op_snapshot_data(&j.e, app, j.spec, tag, applied_commit(st, app,
							      commit), out);
	if (stopped) {
		int r2 = stop_or_start(&j.e, j.slots, app, j.spec, j.slot, 1);

		if (r2 && !ret)
			ret = r2;
	}
	if (ret)
		goto out;
	/* Retention after every snapshot; then the offsite copy. */
	if (!(ret = backup_open(&bs, cfg, 1, BACKUP_WAIT_SECONDS))) {
		struct backup_keep keep = { j.spec->backup.keep,
					    j.spec->backup.keep_daily,
					    j.spec->backup.keep_weekly };
		struct backup_prune_result pr;

		ret = backup_prune(bs, app, &keep, (long long)time(NULL), &pr);
		if (!ret && cfg->backup.offsite_url) {
			struct backup_upload_result ur;

			if (backup_upload(bs, cfg, &ur)) {
				/* The snapshot is safe here; the copy is
				 * retried with the next one. */
				log_event(LOG_WARN, "backup.offsite_failed",
					  error_message(), "app", app, NULL);
				error_clear();
			}
		}
	}
	goto out;
note:
	if (!backup_open(&bs, cfg, 1, 10)) {
		char msg[FURROW_ERROR_MAX];

		snprintf(msg, sizeof(msg), "%s", error_message());
		backup_note_error(bs, app, msg);
		error_set(ret, "%s", msg);
	}
out:
	backup_close(bs);
	job_close(&j);
	return ret;
}

int apply_drill(const struct config *cfg, struct store *st, const char *app,
		struct backup_drill_result *out)
{
	struct job j;
	struct backup_store *bs = NULL;
	int ret;

	memset(out, 0, sizeof(*out));
	if (!(ret = job_open(&j, cfg, st, app)) &&
	    !(ret = backup_open(&bs, cfg, 1, BACKUP_WAIT_SECONDS)))
		ret = backup_drill(bs, app, out);
	backup_close(bs);
	job_close(&j);
	return ret;
}

/* ---- the daemon's schedule ---- */

struct sched_app {
	char app[64];
	long long retry_at;        /* after a failure */
	int rpo_missed, rto_missed;
};

struct backup_sched {
	struct sched_app *v;
	size_t n;
	unsigned jitter_seed;
};

struct backup_sched *backup_sched_new(void)
{
	struct backup_sched *s = calloc(1, sizeof(*s));

	if (s)
		s->jitter_seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	return s;
}

void backup_sched_free(struct backup_sched *s)
{
	if (!s)
		return;
	free(s->v);
	free(s);
}

static struct sched_app *sched_of(struct backup_sched *s, const char *app)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (!strcmp(s->v[i].app, app))
			return &s->v[i];
	s->v = realloc(s->v, (s->n + 1) * sizeof(*s->v));
	memset(&s->v[s->n], 0, sizeof(s->v[0]));
	snprintf(s->v[s->n].app, sizeof(s->v[0].app), "%s", app);
	return &s->v[s->n++];
}

/* A stable spread per host and app, so a fleet does not back up (and
 * upload) in the same minute: up to a tenth of the interval, at most an
 * hour. */
static long long jitter_for(const struct backup_sched *s, const char *app,
			    long long every)
{
	unsigned h = s->jitter_seed;
	long long span = every / 10 < 3600 ? every / 10 : 3600;

	for (; *app; app++)
		h = h * 31u + (unsigned char)*app;
	return span > 0 ? (long long)(h % (unsigned)span) : 0;
}

struct due_arg {
	const struct config *cfg;
	struct store *st;
	struct backup_sched *s;
	void (*event)(void *, const char *, const char *, const char *,
		      const char *);
	void *event_arg;
	long long now;
	int ran;
	char (*apps)[64];
	size_t napps;
	struct backup_status_entry *status; /* every app's, read once */
	size_t nstatus;
};

static int collect_app(const char *app, const struct app_runtime *rt,
		       void *arg)
{
	struct due_arg *a = arg;

	(void)rt;
	a->apps = realloc(a->apps, (a->napps + 1) * sizeof(*a->apps));
	snprintf(a->apps[a->napps++], 64, "%s", app);
	return 0;
}

static void tell(struct due_arg *a, const char *name, const char *app,
		 const char *msg)
{
	if (a->event)
		a->event(a->event_arg, name, app, NULL, msg);
}

static void due_one(struct due_arg *a, const char *app)
{
	struct sched_app *sa = sched_of(a->s, app);
	struct backup_status bst;
	struct job j;
	const struct appspec_backup *b;
	char msg[600];
	long long due;
	int ret;

	if (job_open(&j, a->cfg, a->st, app)) {
		error_clear();
		job_close(&j);
		return;
	}
	b = &j.spec->backup;
	/* Read once per pass for all apps; again only after a job ran. */
	memset(&bst, 0, sizeof(bst));
	for (size_t k = 0; k < a->nstatus; k++)
		if (!strcmp(a->status[k].app, app))
			bst = a->status[k].s;
	/* Never backed up, or overdue after downtime: now (the retry
	 * pause after a failure aside). */
	due = bst.snapshot_time ? bst.snapshot_time + b->every +
	      jitter_for(a->s, app, b->every) : 0;
	if (a->now >= due && a->now >= sa->retry_at) {
		struct backup_info info;

		a->ran = 1;
		ret = apply_backup(a->cfg, a->st, app, "scheduled", &info);
		if (ret) {
			snprintf(msg, sizeof(msg), "%s", error_message());
			log_event(LOG_ERROR, "backup.failed", msg, "app", app,
				  NULL);
			tell(a, "backup-failed", app, msg);
			error_clear();
			sa->retry_at = a->now + (b->every < RETRY_SECONDS ?
						 b->every : RETRY_SECONDS);
		} else {
			snprintf(msg, sizeof(msg), "snapshot %llu: %llu files, "
				 "%llu bytes, %llu new bytes stored",
				 (unsigned long long)info.id,
				 (unsigned long long)info.files,
				 (unsigned long long)info.bytes,
				 (unsigned long long)info.new_bytes);
			log_event(LOG_INFO, "backup.done", msg, "app", app, NULL);
			sa->retry_at = 0;
		}
		(void)backup_status_peek(a->cfg->state_dir, app, &bst);
		error_clear();
	}
	if (b->drill_every && bst.snapshot_id &&
	    a->now >= bst.drill_time + b->drill_every &&
	    a->now >= sa->retry_at) {
		struct backup_drill_result dr;

		a->ran = 1;
		if (apply_drill(a->cfg, a->st, app, &dr) || !dr.ok) {
			snprintf(msg, sizeof(msg), "%s", dr.why[0] ? dr.why :
				 error_message());
			tell(a, "backup-drill-failed", app, msg);
			error_clear();
			sa->retry_at = a->now + RETRY_SECONDS;
		}
		(void)backup_status_peek(a->cfg->state_dir, app, &bst);
		error_clear();
	}
	/* Targets: an event when one is first missed. */
	if (b->rpo) {
		long long age = bst.verified_time ? a->now - bst.verified_time :
				-1;
		int missed = age < 0 || age > b->rpo;

		if (missed && !sa->rpo_missed) {
			snprintf(msg, sizeof(msg), age < 0 ? "no verified "
				 "snapshot yet (target %llds)" : "newest verified "
				 "snapshot is %2$llds old (target %1$llds)",
				 b->rpo, age);
			tell(a, "backup-rpo-missed", app, msg);
		}
		sa->rpo_missed = missed;
	}
	if (b->rto && bst.drill_time) {
		int missed = !bst.drill_ok || bst.drill_seconds > (double)b->rto;

		if (missed && !sa->rto_missed) {
			snprintf(msg, sizeof(msg), "last drill %s in %.1fs "
				 "(target %llds)", bst.drill_ok ? "restored" :
				 "failed", bst.drill_seconds, b->rto);
			tell(a, "backup-rto-missed", app, msg);
		}
		sa->rto_missed = missed;
	}
	job_close(&j);
}

int apply_backup_due(const struct config *cfg, struct store *st,
		     struct backup_sched *s,
		     void (*event)(void *, const char *, const char *,
				   const char *, const char *),
		     void *event_arg)
{
	struct due_arg a;
	size_t i;

	memset(&a, 0, sizeof(a));
	a.cfg = cfg;
	a.st = st;
	a.s = s;
	a.event = event;
	a.event_arg = event_arg;
	a.now = (long long)time(NULL);
	if (!cfg->backup.key_file)
		return 0;
	if (runtime_list(st, collect_app, &a)) {
		free(a.apps);
		return FURROW_EIO;
	}
	if (backup_status_all(cfg->state_dir, &a.status, &a.nstatus)) {
		free(a.apps);
		return FURROW_EIO;
	}
	for (i = 0; i < a.napps; i++)
		due_one(&a, a.apps[i]);
	free(a.apps);
	free(a.status);
	return a.ran;
}

/* ---- for the commands ---- */

int apply_backup_apps(const struct config *cfg, struct store *st,
		      char (**out)[64], size_t *n)
{
	struct due_arg a;
	size_t i, k = 0;

	memset(&a, 0, sizeof(a));
	*out = NULL;
	*n = 0;
	if (runtime_list(st, collect_app, &a)) {
		free(a.apps);
		return FURROW_EIO;
	}
	for (i = 0; i < a.napps; i++) {
		struct job j;

		if (!job_open(&j, cfg, st, a.apps[i]))
			memmove(a.apps[k++], a.apps[i], 64);
		error_clear();
		job_close(&j);
	}
	*out = a.apps;
	*n = k;
	return 0;
}

int apply_backup_prune(const struct config *cfg, struct store *st,
		       const char *app, struct backup_prune_result *out)
{
	struct backup_store *bs = NULL;
	struct job j;
	int ret;

	memset(out, 0, sizeof(*out));
	if (!(ret = job_open(&j, cfg, st, app)) &&
	    !(ret = backup_open(&bs, cfg, 1, BACKUP_WAIT_SECONDS))) {
		struct backup_keep keep = { j.spec->backup.keep,
					    j.spec->backup.keep_daily,
					    j.spec->backup.keep_weekly };

		ret = backup_prune(bs, app, &keep, (long long)time(NULL), out);
	}
	backup_close(bs);
	job_close(&j);
	return ret;
}

/* ---- which snapshot goes with which slot (runtime table) ---- */

struct mark_arg {
	const char *key;
	uint64_t id;
};

static int mark_del_fn(struct store_txn *t, void *arg)
{
	struct mark_arg *a = arg;
	int ret = store_del(t, "runtime", a->key, strlen(a->key));

	return ret == FURROW_ENOENT ? 0 : ret;
}

int data_mark_put(struct engine *e, const char *app, const char *what,
		  uint64_t id)
{
	struct strbuf key = STRBUF_INIT;
	struct mark_arg a;
	char num[24];
	int ret, len;

	strbuf_addf(&key, "%s/%s", app, what);
	a.key = key.buf;
	a.id = id;
	eng_lock(e);
	if (id) {
		len = snprintf(num, sizeof(num), "%llu", (unsigned long long)id);
		ret = store_put1(e->st, "runtime", key.buf, key.len, num,
				 (size_t)len);
	} else {
		ret = store_update(e->st, mark_del_fn, &a);
	}
	eng_unlock(e);
	strbuf_release(&key);
	return ret;
}

uint64_t data_mark_get(struct engine *e, const char *app, const char *what)
{
	struct strbuf key = STRBUF_INIT, val = STRBUF_INIT;
	uint64_t id = 0;

	strbuf_addf(&key, "%s/%s", app, what);
	eng_lock(e);
	if (!store_get_copy(e->st, "runtime", key.buf, key.len, &val))
		id = strtoull(val.buf, NULL, 10);
	eng_unlock(e);
	error_clear();
	strbuf_release(&key);
	strbuf_release(&val);
	return id;
}
