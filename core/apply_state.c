/*
 * apply_state.c - the "runtime" table: per-app memory of the apply
 * engine between passes (see apply_state.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apply_state.h"
#include "bug.h"
#include "error.h"
#include "json.h"
#include "limits.h"
#include "log.h"
#include "store.h"
#include "strbuf.h"
#include "value.h"
#include "valuecodec.h"
#include "banned.h"

#define TABLE "runtime"

static void copy_str(char *dst, size_t size, const struct value *t,
		     const char *key)
{
	const struct value *v = value_get(t, key);

	dst[0] = 0;
	if (v && v->type == VALUE_STRING)
		snprintf(dst, size, "%s", v->u.string.ptr);
}

static long long get_num(const struct value *t, const char *key)
{
	const struct value *v = value_get(t, key);

	return v && v->type == VALUE_INTEGER ? v->u.integer : 0;
}

static void decode(struct app_runtime *out, const struct value *t)
{
	copy_str(out->health, sizeof(out->health), t, "health");
	copy_str(out->health_msg, sizeof(out->health_msg), t, "health_msg");
	out->checked = get_num(t, "checked");
	out->changed = get_num(t, "changed");
	out->drift_repairs = get_num(t, "drift_repairs");
	out->restarts = get_num(t, "restarts");
	copy_str(out->held_spec, sizeof(out->held_spec), t, "held_spec");
	copy_str(out->held_commit, sizeof(out->held_commit), t, "held_commit");
	out->held_at = get_num(t, "held_at");
	copy_str(out->held_reason, sizeof(out->held_reason), t, "held_reason");
	copy_str(out->confirmed[0], sizeof(out->confirmed[0]), t, "confirmed_a");
	copy_str(out->confirmed[1], sizeof(out->confirmed[1]), t, "confirmed_b");
}

static int parse(struct app_runtime *out, const char *app, const void *val,
		 size_t vlen)
{
	struct value *v = NULL;

	memset(out, 0, sizeof(*out));
	if (json_parse(&v, "runtime record", val, vlen,
		       LIMIT_STORE_VALUE_BYTES) || v->type != VALUE_TABLE) {
		log_event(LOG_WARN, "apply.runtime_unreadable",
			  "unreadable runtime record ignored", "app", app,
			  "error", error_message(), NULL);
		error_clear();
		value_free(v);
		return 0;
	}
	decode(out, v);
	value_free(v);
	return 0;
}

struct get_job {
	const char *app;
	struct app_runtime *out;
};

static int get_txn(struct store_txn *t, void *arg)
{
	struct get_job *j = arg;
	const void *val;
	size_t vlen;
	int ret = store_get(t, TABLE, j->app, strlen(j->app), &val, &vlen);

	if (ret == FURROW_ENOENT)
		return 0;
	if (ret)
		return ret;
	return parse(j->out, j->app, val, vlen);
}

int runtime_get(struct store *st, const char *app, struct app_runtime *out)
{
	struct get_job j = { app, out };

	memset(out, 0, sizeof(*out));
	return store_view(st, get_txn, &j);
}

int runtime_put(struct store *st, const char *app, const struct app_runtime *in)
{
	struct value *t = value_new(VALUE_TABLE);
	struct strbuf sb = STRBUF_INIT;
	int ret;

	value_put_str(t, "health", in->health[0] ? in->health : "unknown");
	value_put_str(t, "health_msg", in->health_msg);
	value_put_int(t, "checked", in->checked);
	value_put_int(t, "changed", in->changed);
	value_put_int(t, "drift_repairs", in->drift_repairs);
	value_put_int(t, "restarts", in->restarts);
	value_put_str(t, "held_spec", in->held_spec);
	value_put_str(t, "held_commit", in->held_commit);
	value_put_int(t, "held_at", in->held_at);
	value_put_str(t, "held_reason", in->held_reason);
	value_put_str(t, "confirmed_a", in->confirmed[0]);
	value_put_str(t, "confirmed_b", in->confirmed[1]);
	value_sort(t);
	value_to_json(&sb, t, 0);
	ret = store_put1(st, TABLE, app, strlen(app), sb.buf, sb.len);
	strbuf_release(&sb);
	value_free(t);
	return ret;
}

static void spec_key(struct strbuf *sb, const char *app, int slot)
{
	strbuf_addf(sb, "%s/spec/%c", app, slot);
}

static int del_txn(struct store_txn *t, void *arg)
{
	const char *app = arg;
	struct strbuf key = STRBUF_INIT;
	int ret = store_del(t, TABLE, app, strlen(app));

	for (int slot = 'a'; slot <= 'b' && (!ret || ret == FURROW_ENOENT);
	     slot++) {
		strbuf_setlen(&key, 0);
		spec_key(&key, app, slot);
		ret = store_del(t, TABLE, key.buf, key.len);
	}
	strbuf_release(&key);
	return ret == FURROW_ENOENT ? 0 : ret;
}

int runtime_del(struct store *st, const char *app)
{
	return store_update(st, del_txn, (void *)app);
}

int runtime_spec_put(struct store *st, const char *app, int slot,
		     const struct value *spec)
{
	struct strbuf key = STRBUF_INIT, val = STRBUF_INIT;
	int ret;

	if (slot != 'a' && slot != 'b')
		BUG("runtime_spec_put: slot %d", slot);
	spec_key(&key, app, slot);
	valuecodec_encode(&val, spec);
	ret = store_put1(st, TABLE, key.buf, key.len, val.buf, val.len);
	strbuf_release(&key);
	strbuf_release(&val);
	return ret;
}

int runtime_spec_get(struct store *st, const char *app, int slot,
		     struct value **out)
{
	struct strbuf key = STRBUF_INIT, val = STRBUF_INIT;
	int ret;

	*out = NULL;
	if (slot != 'a' && slot != 'b')
		return FURROW_ENOENT;
	spec_key(&key, app, slot);
	ret = store_get_copy(st, TABLE, key.buf, key.len, &val);
	if (!ret)
		ret = valuecodec_decode(out, "recorded slot spec", val.buf,
					val.len);
	strbuf_release(&key);
	strbuf_release(&val);
	return ret;
}

struct list_job {
	runtime_fn fn;
	void *arg;
	/* Copied out so that fn runs after the snapshot is closed. */
	char **apps;
	struct app_runtime *rts;
	size_t count, alloc;
};

static int list_each(const void *key, size_t klen, const void *val,
		     size_t vlen, void *arg)
{
	struct list_job *j = arg;
	char *app;

	if (memchr(key, '/', klen))
		return 0;
	if (j->count == j->alloc) {
		j->alloc = j->alloc ? 2 * j->alloc : 16;
		j->apps = xrealloc(j->apps, j->alloc * sizeof(*j->apps));
		j->rts = xrealloc(j->rts, j->alloc * sizeof(*j->rts));
	}
	app = xstrndup(key, klen);
	j->apps[j->count] = app;
	parse(&j->rts[j->count], app, val, vlen);
	j->count++;
	return 0;
}

static int list_txn(struct store_txn *t, void *arg)
{
	return store_foreach(t, TABLE, NULL, 0, list_each, arg);
}

int runtime_list(struct store *st, runtime_fn fn, void *arg)
{
	struct list_job j;
	int ret;

	memset(&j, 0, sizeof(j));
	ret = store_view(st, list_txn, &j);
	for (size_t i = 0; i < j.count; i++) {
		if (!ret)
			ret = fn(j.apps[i], &j.rts[i], arg);
		free(j.apps[i]);
	}
	free(j.apps);
	free(j.rts);
	return ret;
}

/* The last pass, under a key no app name can take. */
#define PASS_KEY "/pass"

int runtime_pass_put(struct store *st, const struct value *pass)
{
	struct strbuf sb = STRBUF_INIT;
	int ret;

	value_to_json(&sb, pass, 0);
	ret = store_put1(st, TABLE, PASS_KEY, strlen(PASS_KEY), sb.buf, sb.len);
	strbuf_release(&sb);
	return ret;
}

int runtime_pass_get(struct store *st, struct value **out)
{
	struct strbuf sb = STRBUF_INIT;
	int ret;

	*out = NULL;
	ret = store_get_copy(st, TABLE, PASS_KEY, strlen(PASS_KEY), &sb);
	if (!ret)
		ret = json_parse(out, "last pass record", sb.buf, sb.len,
				 LIMIT_STORE_VALUE_BYTES);
	strbuf_release(&sb);
	return ret;
}
