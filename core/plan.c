/*
 * plan.c - desired apps versus applied state, decided by policies (see
 * plan.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "appspec.h"
#include "bug.h"
#include "config.h"
#include "desired.h"
#include "error.h"
#include "json.h"
#include "limits.h"
#include "strbuf.h"
#include "plan.h"
#include "store.h"
#include "sync.h"
#include "sync_tree.h"
#include "valuecodec.h"
#include "verify.h"
#include "banned.h"

#define APPS_TABLE "apps"

const char *plan_action_name(enum plan_action a)
{
	switch (a) {
	case PLAN_CREATE: return "create";
	case PLAN_UPDATE: return "update";
	case PLAN_UNCHANGED: return "unchanged";
	case PLAN_REMOVE: return "remove";
	}
	BUG("bad plan action %d", (int)a);
}

void plan_spec_sha256(char out[65], const struct value *spec)
{
	plan_spec_files_sha256(out, spec, NULL);
}

void plan_spec_files_sha256(char out[65], const struct value *spec,
			    const char *files)
{
	struct strbuf sb = STRBUF_INIT;

	valuecodec_encode(&sb, spec);
	if (files)
		strbuf_addf(&sb, "\nfiles %s", files);
	verify_sha256_hex(out, sb.buf, sb.len);
	strbuf_release(&sb);
}

/* The Git ids of the files and unit of each selected app, in one child;
 * NULL (no error) when no app has any. */
/*
 * A commit's ids never change, so the last commit's are kept in the
 * store ("runtime" table, key "/ids": { commit =, ids = { [path] = id or
 * "" for none } }) and a pass over an unchanged commit starts no child
 * for them.  1 with *out filled when every path is cached, else 0.
 */
#define IDS_KEY "/ids"

static int ids_cached(struct value **out, struct store *st,
		      const char *commit, const char *const *paths, size_t n)
{
	struct strbuf sb = STRBUF_INIT;
	struct value *v = NULL, *res = NULL;
	const struct value *c, *ids;
	int hit = 0;

	*out = NULL;
	if (!st || store_get_copy(st, "runtime", IDS_KEY, strlen(IDS_KEY), &sb) ||
	    json_parse(&v, "ids cache", sb.buf, sb.len, LIMIT_STORE_VALUE_BYTES))
		goto out;
	c = value_get(v, "commit");
	ids = value_get(v, "ids");
	if (!c || c->type != VALUE_STRING || strcmp(c->u.string.ptr, commit) ||
	    !ids || ids->type != VALUE_TABLE)
		goto out;
	res = value_new(VALUE_TABLE);
	for (size_t i = 0; i < n; i++) {
		const struct value *id = value_get(ids, paths[i]);

		if (!id || id->type != VALUE_STRING)
			goto out;
		if (id->u.string.len == 40 && !value_get(res, paths[i]))
			value_put_str(res, paths[i], id->u.string.ptr);
	}
	value_sort(res);
	*out = res;
	res = NULL;
	hit = 1;
out:
	error_clear();
	value_free(res);
	value_free(v);
	strbuf_release(&sb);
	return hit;
}

static void ids_remember(struct store *st, const char *commit,
			 const char *const *paths, size_t n,
			 const struct value *got)
{
	struct value *v, *ids;
	struct strbuf sb = STRBUF_INIT;

	if (!st || !store_writable(st))
		return;
	v = value_new(VALUE_TABLE);
	value_put_str(v, "commit", commit);
	ids = value_put(v, "ids");
	ids->type = VALUE_TABLE;
	for (size_t i = 0; i < n; i++) {
		const struct value *id = value_get(got, paths[i]);

		if (!value_get(ids, paths[i]))
			value_put_str(ids, paths[i], id ? id->u.string.ptr : "");
	}
	value_sort(ids);
	value_sort(v);
	value_to_json(&sb, v, 0);
	if (store_put1(st, "runtime", IDS_KEY, strlen(IDS_KEY), sb.buf, sb.len))
		error_clear();   /* a cache: losing it costs a child, no more */
	strbuf_release(&sb);
	value_free(v);
}

static int load_file_ids(struct value **out, const struct config *cfg,
			 struct store *st, const char *commit,
			 const struct appspec_list *list)
{
	const char **paths = xcalloc(2 * list->count + 1, sizeof(*paths));
	size_t n = 0;
	int ret = 0;

	*out = NULL;
	for (size_t i = 0; i < list->count; i++) {
		const struct appspec *a = list->apps[i];

		if (!appspec_selected(a, cfg->labels, cfg->label_count))
			continue;
		if (a->files)
			paths[n++] = a->files;
		if (a->unit)
			paths[n++] = a->unit;
	}
	if (n && !(ret = ids_cached(out, st, commit, paths, n))) {
		ret = sync_tree_ids(out, cfg, commit, paths, n);
		if (!ret)
			ids_remember(st, commit, paths, n, *out);
	} else if (ret > 0) {
		ret = 0;
	}
	free(paths);
	return ret;
}

/* "<files id> <unit id>" of a, as the ids say ("-" where none). */
static void files_text(struct strbuf *sb, const struct appspec *a,
		       const struct value *ids)
{
	const struct value *f = a->files ? value_get(ids, a->files) : NULL;
	const struct value *u = a->unit ? value_get(ids, a->unit) : NULL;

	strbuf_addf(sb, "%s %s", f ? f->u.string.ptr : "-",
		    u ? u->u.string.ptr : "-");
}

/* ---- the applied state ------------------------------------------------ */

/* A record is "<64 hex spec sha256> <40 hex commit>". */
#define RECORD_LEN (64 + 1 + 40)

static int is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strchr("0123456789abcdef", s[i]) || !s[i])
			return 0;
	return 1;
}

struct record_job {
	const char *app;
	const char *sha;
	const char *commit;
};

static int record_txn(struct store_txn *t, void *arg)
{
	const struct record_job *j = arg;
	char rec[RECORD_LEN + 1];
	int ret;

	if (!j->sha) {
		ret = store_del(t, APPS_TABLE, j->app, strlen(j->app));
		return ret == FURROW_ENOENT ? 0 : ret;
	}
	snprintf(rec, sizeof(rec), "%s %s", j->sha, j->commit);
	return store_put(t, APPS_TABLE, j->app, strlen(j->app), rec,
			 RECORD_LEN);
}

int plan_record_applied(struct store *st, const char *app,
			const char *spec_sha256, const char *commit)
{
	struct record_job j = { app, spec_sha256, commit };

	if (spec_sha256 && (strlen(spec_sha256) != 64 ||
			    !is_hex(spec_sha256, 64) || !commit ||
			    strlen(commit) != 40 || !is_hex(commit, 40)))
		return error_set(FURROW_EINVAL, "app %s: applied record needs a "
				 "64-hex spec hash and a 40-hex commit", app);
	return store_update(st, record_txn, &j);
}

static int load_each(const void *key, size_t klen, const void *val,
		     size_t vlen, void *arg)
{
	struct value *apps = arg, *a;
	const char *v = val;

	/* A record this furrow cannot read is skipped rather than fatal:
	 * the app then plans as a create, which apply re-records. */
	if (vlen != RECORD_LEN || v[64] != ' ' || !is_hex(v, 64) ||
	    !is_hex(v + 65, 40))
		return 0;
	a = value_table_add_str(apps, key, klen);
	a->type = VALUE_TABLE;
	value_set_string(value_put(a, "spec_sha256"), v, 64);
	value_set_string(value_put(a, "commit"), v + 65, 40);
	value_sort(a);
	return 0;
}

static int load_txn(struct store_txn *t, void *arg)
{
	return store_foreach(t, APPS_TABLE, NULL, 0, load_each, arg);
}

int plan_applied_load(struct value **out, struct store *st)
{
	int ret = 0;

	*out = value_new(VALUE_TABLE);
	if (st)
		ret = store_view(st, load_txn, *out);
	if (ret) {
		value_free(*out);
		*out = NULL;
		return ret;
	}
	value_sort(*out);
	return 0;
}

/* ---- combining decisions ---------------------------------------------- */

static void take(struct plan_item *it, const struct policy_decision *d)
{
	free(it->reason);
	free(it->policy);
	it->verdict = d->verdict;
	it->reason = d->reason ? xstrdup(d->reason) : NULL;
	it->has_until = d->has_until;
	it->until = d->has_until ? d->until : 0;
	it->policy = xstrdup(d->policy ? d->policy : "");
	snprintf(it->policy_sha256, sizeof(it->policy_sha256), "%s", d->sha256);
}

/* Overlay src's fields on dst (both tables); nested tables merge. */
static void merge_adjust(struct value *dst, const struct value *src)
{
	for (size_t i = 0; i < src->u.table.count; i++) {
		const struct value_entry *e = &src->u.table.entries[i];
		struct value *slot = NULL;

		if (e->key.type != VALUE_STRING)
			continue;
		for (size_t j = 0; j < dst->u.table.count; j++) {
			struct value_entry *d = &dst->u.table.entries[j];

			if (d->key.type == VALUE_STRING &&
			    !strcmp(d->key.u.string.ptr, e->key.u.string.ptr))
				slot = &d->val;
		}
		if (slot && slot->type == VALUE_TABLE && e->val.type == VALUE_TABLE) {
			merge_adjust(slot, &e->val);
			continue;
		}
		if (slot)
			value_clear(slot);
		else
			slot = value_table_add_str(dst, e->key.u.string.ptr,
						   e->key.u.string.len);
		value_copy_into(slot, &e->val);
	}
	value_sort(dst);
}

void plan_combine(struct plan_item *it, const struct policy_decision *d)
{
	if (!d->decided)
		return;
	if (d->adjust && d->adjust->type == VALUE_TABLE) {
		if (!it->adjust)
			it->adjust = value_new(VALUE_TABLE);
		merge_adjust(it->adjust, d->adjust);
	}
	if (d->verdict > it->verdict || !it->policy) {
		if (d->verdict >= it->verdict)
			take(it, d);
		return;
	}
	if (d->verdict < it->verdict)
		return;
	/* Equal verdicts: a deny or allow keeps the first reason; of two
	 * defers the change waits for both, so the later one (open-ended
	 * latest of all) decides. */
	if (d->verdict == POLICY_DEFER && it->has_until &&
	    (!d->has_until || d->until > it->until))
		take(it, d);
}

/* ---- building ----------------------------------------------------------- */

static struct plan_item *add_item(struct plan *p, const char *app)
{
	struct plan_item *it = &p->items[p->count++];

	memset(it, 0, sizeof(*it));
	it->app = xstrdup(app);
	it->verdict = POLICY_ALLOW;
	return it;
}

static struct value *make_ctx(const struct config *cfg,
			      const struct plan_inputs *in,
			      const struct sync_verified *v,
			      const struct value *applied)
{
	struct value *ctx = value_new(VALUE_TABLE), *host, *labels, *commit;

	value_put_int(ctx, "now", in->now);
	host = value_put(ctx, "host");
	host->type = VALUE_TABLE;
	value_put_str(host, "id", cfg->host_id);
	labels = value_put(host, "labels");
	labels->type = VALUE_TABLE;
	for (size_t i = 0; i < cfg->label_count; i++)
		value_put_str(labels, cfg->labels[i].key, cfg->labels[i].value);
	value_sort(labels);
	value_sort(host);
	commit = value_put(ctx, "commit");
	commit->type = VALUE_TABLE;
	value_put_str(commit, "id", in->commit);
	value_put_int(commit, "time", in->commit_time);
	if (in->signer)
		value_put_str(commit, "signer", in->signer);
	value_sort(commit);
	if (v->sum->has_serial)
		value_put_int(ctx, "serial", v->sum->serial);
	value_copy_into(value_put(ctx, "apps"), applied);
	{
		struct value *f = value_put(ctx, "freeze_file");

		f->type = VALUE_BOOLEAN;
		f->u.boolean = v->freeze_file;
	}
	value_sort(ctx);
	return ctx;
}

/* The spec value of a desired app by name; NULL if none. */
static const struct value *spec_of(const struct desired_summary *sum,
				   const char *app)
{
	for (size_t i = 0; i < sum->app_count; i++)
		if (!strcmp(sum->app_names[i], app))
			return sum->app_specs[i];
	return NULL;
}

static int run_policies(struct plan *p, const struct sync_verified *v,
			const struct value *ctx, const struct value *applied)
{
	struct value *changes = value_new(VALUE_TABLE);
	struct policy_decisions *d = NULL;
	size_t *ix = xcalloc(p->count + 1, sizeof(*ix)), n = 0;
	int ret = 0;

	for (size_t i = 0; i < p->count; i++) {
		const struct plan_item *it = &p->items[i];
		const struct value *spec = spec_of(v->sum, it->app);
		const struct value *cur = value_get(applied, it->app);
		struct value *c;

		if (it->action == PLAN_UNCHANGED)
			continue;
		ix[n] = i;
		c = value_table_add_int(changes, (long long)++n);
		c->type = VALUE_TABLE;
		value_put_str(c, "app", it->app);
		value_put_str(c, "action", plan_action_name(it->action));
		if (spec && it->action != PLAN_REMOVE)
			value_copy_into(value_put(c, "spec"), spec);
		if (cur)
			value_copy_into(value_put(c, "current"), cur);
		value_sort(c);
	}
	value_sort(changes);
	for (size_t i = 0; n && i < v->sum->policy_count; i++) {
		const struct desired_policy *dp = &v->sum->policies[i];
		const struct sync_policy *sp = &v->res.policies[i];
		const char *src;
		size_t len = 0;

		if (desired_policy_is_repo_file(dp)) {
			src = sp->source;
			len = sp->source_len;
		} else {
			src = policy_builtin(dp->name, &len);
		}
		if (!src) {
			ret = error_set(FURROW_EINVAL, "policy %s: no such %s",
					dp->name, desired_policy_is_repo_file(dp) ?
					"verified policy file" :
					"standard policy");
			goto out;
		}
		if ((ret = policy_run(&d, dp->name, src, len, ctx, changes,
				      dp->options)))
			goto out;
		for (size_t j = 0; j < d->count && j < n; j++)
			plan_combine(&p->items[ix[j]], &d->decisions[j]);
		policy_decisions_free(d);
		d = NULL;
	}
out:
	policy_decisions_free(d);
	value_free(changes);
	free(ix);
	return ret;
}

static int name_desc(const void *a, const void *b)
{
	return strcmp(*(const char *const *)b, *(const char *const *)a);
}

static void hash_plan(struct plan *p)
{
	struct strbuf sb = STRBUF_INIT;

	plan_body_json(&sb, p);
	verify_sha256_hex(p->sha256, sb.buf, sb.len);
	strbuf_release(&sb);
}

int plan_build(struct plan **out, const struct config *cfg,
	       struct store *st, const struct plan_inputs *in)
{
	struct appspec_list *list = NULL;
	struct value *applied = NULL, *ctx = NULL, *ids = NULL;
	const char **gone = NULL;
	struct sync_verified v;
	struct plan *p = NULL;
	size_t ngone = 0;
	int ret;

	*out = NULL;
	memset(&v, 0, sizeof(v));
	if (!in->commit || !*in->commit) {
		ret = error_set(FURROW_ENOENT, "nothing accepted yet: run furrow "
				"sync");
		goto out;
	}
	if ((ret = sync_read_verified(&v, cfg, in->commit)))
		goto out;
	if ((ret = appspec_parse_all(&list, "furrow.lua", v.sum)))
		goto out;
	if ((ret = plan_applied_load(&applied, st)))
		goto out;
	if ((ret = load_file_ids(&ids, cfg, st, in->commit, list)))
		goto out;

	p = xcalloc(1, sizeof(*p));
	snprintf(p->commit, sizeof(p->commit), "%s", in->commit);
	p->commit_time = in->commit_time;
	p->signer = in->signer ? xstrdup(in->signer) : NULL;
	p->has_serial = v.sum->has_serial;
	p->serial = v.sum->serial;
	p->now = in->now;
	p->host = xstrdup(cfg->host_id);
	p->items = xcalloc(list->count + applied->u.table.count + 1,
			   sizeof(*p->items));

	for (size_t i = 0; i < list->count; i++) {
		const struct appspec *a = list->apps[i];
		const struct value *cur = value_get(applied, a->name);
		const struct value *spec = spec_of(v.sum, a->name);
		struct plan_item *it;

		if (!appspec_selected(a, cfg->labels, cfg->label_count))
			continue;
		if (!spec)
			BUG("app %s validated but has no spec", a->name);
		it = add_item(p, a->name);
		it->kind = xstrdup(appspec_kind_name(a->kind));
		if (a->files || a->unit) {
			struct strbuf ft = STRBUF_INIT;

			files_text(&ft, a, ids);
			plan_spec_files_sha256(it->spec_sha256, spec, ft.buf);
			strbuf_release(&ft);
		} else {
			plan_spec_sha256(it->spec_sha256, spec);
		}
		it->spec = value_new(VALUE_NIL);
		value_copy_into(it->spec, spec);
		if (cur) {
			const struct value *h = value_get(cur, "spec_sha256");

			snprintf(it->current_sha256, sizeof(it->current_sha256),
				 "%s", h->u.string.ptr);
			it->action = strcmp(it->current_sha256, it->spec_sha256) ?
				     PLAN_UPDATE : PLAN_UNCHANGED;
		} else {
			it->action = PLAN_CREATE;
		}
	}
	/* Applied apps no longer desired here: removed last, in reverse
	 * name order, after everything that might still use them. */
	gone = xcalloc(applied->u.table.count + 1, sizeof(*gone));
	for (size_t i = 0; i < applied->u.table.count; i++) {
		const char *name = applied->u.table.entries[i].key.u.string.ptr;
		int here = 0;

		for (size_t j = 0; j < p->count; j++)
			if (!strcmp(p->items[j].app, name))
				here = 1;
		if (!here)
			gone[ngone++] = name;
	}
	qsort(gone, ngone, sizeof(*gone), name_desc);
	for (size_t i = 0; i < ngone; i++) {
		struct plan_item *it = add_item(p, gone[i]);
		const struct value *h = value_get(value_get(applied, gone[i]),
						  "spec_sha256");

		it->action = PLAN_REMOVE;
		snprintf(it->current_sha256, sizeof(it->current_sha256), "%s",
			 h->u.string.ptr);
	}

	ctx = make_ctx(cfg, in, &v, applied);
	if ((ret = run_policies(p, &v, ctx, applied)))
		goto out;
	for (size_t i = 0; i < p->count; i++) {
		const struct plan_item *it = &p->items[i];

		p->n_create += it->action == PLAN_CREATE;
		p->n_update += it->action == PLAN_UPDATE;
		p->n_remove += it->action == PLAN_REMOVE;
		p->n_unchanged += it->action == PLAN_UNCHANGED;
		p->n_deferred += it->verdict == POLICY_DEFER;
		p->n_denied += it->verdict == POLICY_DENY;
	}
	hash_plan(p);
	*out = p;
	p = NULL;
out:
	plan_free(p);
	free(gone);
	value_free(ctx);
	value_free(ids);
	value_free(applied);
	appspec_list_free(list);
	sync_verified_release(&v);
	return ret;
}

/* ---- output -------------------------------------------------------------- */

static void json_str(struct strbuf *sb, const char *key, const char *s)
{
	strbuf_add_json_string(sb, key, strlen(key));
	strbuf_addch(sb, ':');
	if (s && *s)
		strbuf_add_json_string(sb, s, strlen(s));
	else
		strbuf_addstr(sb, "null");
}

/* Keys in bytewise order at every level, so the text is canonical. */
void plan_body_json(struct strbuf *sb, const struct plan *p)
{
	strbuf_addstr(sb, "{\"commit\":{");
	json_str(sb, "id", p->commit);
	strbuf_addch(sb, ',');
	json_str(sb, "signer", p->signer);
	strbuf_addf(sb, ",\"time\":%lld},", p->commit_time);
	json_str(sb, "host", p->host);
	strbuf_addstr(sb, ",\"items\":[");
	for (size_t i = 0; i < p->count; i++) {
		const struct plan_item *it = &p->items[i];

		strbuf_addstr(sb, i ? ",{" : "{");
		json_str(sb, "action", plan_action_name(it->action));
		strbuf_addstr(sb, ",\"adjust\":");
		if (it->adjust && it->verdict != POLICY_DENY)
			value_to_json(sb, it->adjust, 0);
		else
			strbuf_addstr(sb, "null");
		strbuf_addch(sb, ',');
		json_str(sb, "app", it->app);
		strbuf_addch(sb, ',');
		json_str(sb, "current_sha256", it->current_sha256);
		strbuf_addch(sb, ',');
		json_str(sb, "kind", it->kind);
		strbuf_addch(sb, ',');
		json_str(sb, "policy", it->policy);
		strbuf_addch(sb, ',');
		json_str(sb, "policy_sha256", it->policy_sha256);
		strbuf_addch(sb, ',');
		json_str(sb, "reason", it->reason);
		strbuf_addch(sb, ',');
		json_str(sb, "spec_sha256", it->spec_sha256);
		if (it->has_until)
			strbuf_addf(sb, ",\"until\":%lld", it->until);
		else
			strbuf_addstr(sb, ",\"until\":null");
		strbuf_addch(sb, ',');
		json_str(sb, "verdict", policy_verdict_name(it->verdict));
		strbuf_addch(sb, '}');
	}
	strbuf_addf(sb, "],\"now\":%lld,", p->now);
	if (p->has_serial)
		strbuf_addf(sb, "\"serial\":%lld,", p->serial);
	else
		strbuf_addstr(sb, "\"serial\":null,");
	strbuf_addf(sb, "\"summary\":{\"create\":%zu,\"deferred\":%zu,"
		    "\"denied\":%zu,\"remove\":%zu,\"unchanged\":%zu,"
		    "\"update\":%zu},\"version\":1}", p->n_create, p->n_deferred,
		    p->n_denied, p->n_remove, p->n_unchanged, p->n_update);
}

void plan_json(struct strbuf *sb, const struct plan *p)
{
	plan_body_json(sb, p);
	/* Replace the closing brace: the hash goes last. */
	strbuf_setlen(sb, sb->len - 1);
	strbuf_addf(sb, ",\"plan_sha256\":\"%s\"}\n", p->sha256);
}

void plan_free(struct plan *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->count; i++) {
		free(p->items[i].app);
		free(p->items[i].kind);
		free(p->items[i].reason);
		free(p->items[i].policy);
		value_free(p->items[i].spec);
		value_free(p->items[i].adjust);
	}
	free(p->items);
	free(p->signer);
	free(p->host);
	free(p);
}
