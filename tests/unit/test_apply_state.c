/*
 * test_apply_state.c - the apply engine's per-app memory in the store's
 * "runtime" table (core/apply_state.c): records, slot specs, the last
 * pass, listing, deletion, and what an unreadable record reads as.
 */
#include <stdio.h>
#include <string.h>

#include "apply_state.h"
#include "error.h"
#include "store.h"
#include "strbuf.h"
#include "tap.h"
#include "value.h"
#include "banned.h"

struct names {
	struct strbuf s;
	long long restarts;
};

static int list_fn(const char *app, const struct app_runtime *rt, void *arg)
{
	struct names *n = arg;

	strbuf_addf(&n->s, "%s;", app);
	n->restarts += rt->restarts;
	return 0;
}

static struct value *spec(const char *kind)
{
	struct value *v = value_new(VALUE_TABLE);

	value_put_str(v, "kind", kind);
	value_put_int(v, "n", 42);
	value_sort(v);
	return v;
}

int main(void)
{
	struct store *st = NULL;
	struct app_runtime rt, back;
	struct value *v = spec("service"), *got = NULL, *pass;
	struct names n = { STRBUF_INIT, 0 };
	const struct value *k;


	is_int(store_open(&st, tap_tmpdir(), NULL), 0, "open a store");

	is_int(runtime_get(st, "web", &rt), 0, "a missing record reads");
	ok(!rt.health[0] && !rt.changed && !rt.held_spec[0],
	   "as zeroes");

	memset(&rt, 0, sizeof(rt));
	snprintf(rt.health, sizeof(rt.health), "healthy");
	snprintf(rt.health_msg, sizeof(rt.health_msg), "quote \" and \\ ok");
	rt.changed = 1795758331;
	rt.restarts = 3;
	rt.drift_repairs = 2;
	snprintf(rt.held_spec, sizeof(rt.held_spec), "%064d", 7);
	snprintf(rt.held_commit, sizeof(rt.held_commit), "%040d", 9);
	rt.held_at = 1795758000;
	snprintf(rt.held_reason, sizeof(rt.held_reason), "health check failed");
	is_int(runtime_put(st, "web", &rt), 0, "write a record");
	is_int(runtime_get(st, "web", &back), 0, "read it back");
	ok(!memcmp(&rt, &back, sizeof(rt)), "every field round-trips");

	is_int(runtime_spec_put(st, "web", 'b', v), 0, "record slot b's spec");
	is_int(runtime_spec_get(st, "web", 'a', &got), FURROW_ENOENT,
	       "slot a has none");
	is_int(runtime_spec_get(st, "web", 'b', &got), 0, "slot b has one");
	k = value_get(got, "kind");
	ok(k && k->type == VALUE_STRING && !strcmp(k->u.string.ptr, "service") &&
	   value_get(got, "n")->u.integer == 42, "the same spec comes back");
	value_free(got);
	got = NULL;

	is_int(runtime_put(st, "api", &rt), 0, "a second app");
	pass = value_new(VALUE_TABLE);
	value_put_str(pass, "commit", "abc");
	value_put_int(pass, "exit", 5);
	value_sort(pass);
	is_int(runtime_pass_put(st, pass), 0, "record the last pass");
	value_free(pass);
	is_int(runtime_pass_get(st, &pass), 0, "read the last pass");
	ok(value_get(pass, "exit")->u.integer == 5, "with its fields");
	value_free(pass);

	is_int(runtime_list(st, list_fn, &n), 0, "list the apps");
	is_str(n.s.buf, "api;web;", "apps only, in name order");
	is_int((int)n.restarts, 6, "with their records");

	/* A record written by something else: advisory state, read as
	 * zeroes rather than failing a pass. */
	is_int(store_put1(st, "runtime", "odd", 3, "{not json", 9), 0,
	       "plant an unreadable record");
	is_int(runtime_get(st, "odd", &back), 0, "an unreadable record reads");
	ok(!back.health[0] && !back.restarts, "as zeroes");

	is_int(runtime_del(st, "web"), 0, "delete an app");
	is_int(runtime_spec_get(st, "web", 'b', &got), FURROW_ENOENT,
	       "its slot specs are gone too");
	is_int(runtime_get(st, "web", &back), 0, "its record");
	ok(!back.restarts, "reads as zeroes");
	is_int(runtime_del(st, "nothing"), 0, "deleting nothing is fine");

	value_free(v);
	strbuf_release(&n.s);
	store_free(st);
	return tap_done();
}
