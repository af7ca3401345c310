/*
 * apply_status.c - what `furrow status` shows of the apply engine: the
 * last pass and each applied app, gathered read-only (the store may be
 * open read-only beside a running daemon; nothing is created on disk).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "appname.h"
#include "apply.h"
#include "apply_state.h"
#include "appspec.h"
#include "config.h"
#include "error.h"
#include "plan.h"
#include "strbuf.h"
#include "updlock.h"
#include "value.h"
#include "backup.h"
#include "banned.h"

static void put_kind(struct value *a, struct store *st, const char *app,
		     int slot)
{
	struct value *spec = NULL;
	const struct value *k;

	if (!slot || runtime_spec_get(st, app, slot, &spec)) {
		error_clear();
		return;
	}
	k = value_get(spec, "kind");
	if (k && k->type == VALUE_STRING)
		value_put_str(a, "kind", k->u.string.ptr);
	value_free(spec);
}

static void put_runtime(struct value *a, const struct app_runtime *rt)
{
	value_put_str(a, "health", rt->health[0] ? rt->health : "unknown");
	if (rt->health_msg[0])
		value_put_str(a, "health_message", rt->health_msg);
	if (rt->changed)
		value_put_int(a, "changed", rt->changed);
	value_put_int(a, "restarts", rt->restarts);
	value_put_int(a, "drift_repairs", rt->drift_repairs);
	if (rt->held_spec[0]) {
		struct value *h = value_put(a, "held");

		h->type = VALUE_TABLE;
		value_put_str(h, "spec_sha256", rt->held_spec);
		value_put_str(h, "commit", rt->held_commit);
		value_put_int(h, "since", rt->held_at);
		value_put_str(h, "reason", rt->held_reason);
		value_sort(h);
	}
}

static void put_lock(struct value *a, const char *state_dir, const char *app)
{
	struct strbuf p = STRBUF_INIT;
	struct updlock l;

	strbuf_addf(&p, "%s/apps/%s/data/%s", state_dir, app, UPDLOCK_FILE);
	if (!updlock_check(&l, p.buf, (long long)time(NULL)) && l.held) {
		struct value *u = value_put(a, "update_lock");

		u->type = VALUE_TABLE;
		if (l.until)
			value_put_int(u, "until", l.until);
		value_put_str(u, "reason", l.problem[0] ? l.problem : l.reason);
		value_sort(u);
	}
	error_clear();
	strbuf_release(&p);
}

static void put_num(struct value *t, const char *key, double d)
{
	struct value *v = value_put(t, key);

	v->type = VALUE_NUMBER;
	v->u.number = d;
}

/* "backup": the newest snapshot, RPO (age of the newest verified one)
 * and the last drill (RTO), with the spec's targets. */
static void put_backup(struct value *a, struct store *st, const char *app,
		       int slot, const struct backup_status *bs, long long now)
{
	struct value *b, *spec_v = NULL;
	struct appspec *spec = NULL;

	if (slot && !runtime_spec_get(st, app, slot, &spec_v) &&
	    appspec_parse(&spec, "furrow.lua", 0, app, spec_v))
		spec = NULL;
	value_free(spec_v);
	error_clear();
	b = value_put(a, "backup");
	b->type = VALUE_TABLE;
	if (bs->snapshot_id) {
		value_put_int(b, "last_snapshot", (long long)bs->snapshot_id);
		value_put_int(b, "last_snapshot_time", bs->snapshot_time);
	}
	if (bs->verified_time)
		value_put_int(b, "rpo_seconds", now - bs->verified_time);
	if (spec && spec->backup.rpo)
		value_put_int(b, "rpo_target_seconds", spec->backup.rpo);
	if (bs->drill_time) {
		value_put_int(b, "last_drill_time", bs->drill_time);
		value_put_int(b, "last_drill_snapshot",
			      (long long)bs->drill_snapshot);
		put_num(b, "rto_seconds", bs->drill_seconds);
		value_put(b, "last_drill_ok")->type = VALUE_BOOLEAN;
		((struct value *)value_get(b, "last_drill_ok"))->u.boolean =
			bs->drill_ok;
	}
	if (spec && spec->backup.rto)
		value_put_int(b, "rto_target_seconds", spec->backup.rto);
	if (bs->error_time) {
		value_put_int(b, "error_time", bs->error_time);
		value_put_str(b, "error", bs->error);
	}
	value_sort(b);
	appspec_free(spec);
}

int apply_status(struct value **out, const struct config *cfg,
		 struct store *st)
{
	struct backup_status_entry *bk = NULL;
	size_t nbk = 0;
	struct value *applied = NULL, *root, *apps, *pass = NULL;
	int ret;

	*out = NULL;
	if ((ret = plan_applied_load(&applied, st)))
		return ret;
	root = value_new(VALUE_TABLE);
	if (!runtime_pass_get(st, &pass) && pass->type == VALUE_TABLE) {
		value_copy_into(value_put(root, "last_pass"), pass);
	}
	value_free(pass);
	error_clear();
	apps = value_put(root, "apps");
	apps->type = VALUE_TABLE;
	if (backup_status_all(cfg->state_dir, &bk, &nbk))
		error_clear(); /* busy or unreadable: no backup figures */
	for (size_t i = 0; i < applied->u.table.count; i++) {
		const struct value_entry *e = &applied->u.table.entries[i];
		const char *app = e->key.u.string.ptr;
		struct value *a = value_table_add_int(apps, (long long)i + 1);
		struct app_runtime rt;
		int slot = app_active_slot(cfg->state_dir, app);
		char s[2] = { (char)slot, 0 };

		a->type = VALUE_TABLE;
		value_put_str(a, "app", app);
		value_put_str(a, "commit", value_get(&e->val, "commit")->u.string.ptr);
		value_put_str(a, "spec_sha256",
			      value_get(&e->val, "spec_sha256")->u.string.ptr);
		if (slot)
			value_put_str(a, "slot", s);
		put_kind(a, st, app, slot);
		if (!runtime_get(st, app, &rt))
			put_runtime(a, &rt);
		put_lock(a, cfg->state_dir, app);
		for (size_t k = 0; k < nbk; k++)
			if (!strcmp(bk[k].app, app))
				put_backup(a, st, app, slot, &bk[k].s,
					   (long long)time(NULL));
		value_sort(a);
	}
	value_sort(root);
	value_free(applied);
	free(bk);
	*out = root;
	return 0;
}
