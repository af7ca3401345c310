/*
 * policy.c - run a policy over proposed changes (see policy.h).
 *
 * The runner itself is lua/policy.lua; this file hands it the input, runs
 * it with the policy in the isolated sandbox and reads back the
 * decisions.  They come out of a child that ran a policy, so they are
 * checked again here (apps, verdicts, reasons, times, adjusted fields)
 * rather than trusted because our prelude built them.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bug.h"
#include "embedded.h"
#include "error.h"
#include "limits.h"
#include "appname.h"
#include "policy.h"
#include "sandbox.h"
#include "verify.h"
#include "banned.h"

#define PRELUDE_FILE "policy.lua"

enum adjust_kind {
	ADJUST_ENUM,     /* a string from values */
	ADJUST_SECONDS,  /* an integer or a float */
	ADJUST_COUNT,    /* an integer */
};

static const char *const strategies[] = { "start-first", "stop-first", NULL };

/*
 * What a policy may adjust, sorted by path.  The prelude receives this
 * table as rules.adjustable, so that Lua (which reports the policy's
 * line) and C (the boundary) check the same rules.  The bounds are
 * whole numbers and those of app specs (core/appspec.c).
 */
static const struct adjustable {
	const char *path;
	enum adjust_kind kind;
	const char *const *values; /* ADJUST_ENUM, NULL-terminated */
	double min, max;
	int above_min;             /* min itself is not allowed */
} adjustable[] = {
	{ "health.interval", ADJUST_SECONDS, NULL, 0, LIMIT_APP_SECONDS, 1 },
	{ "health.retries", ADJUST_COUNT, NULL, 0, LIMIT_APP_RETRIES, 0 },
	{ "health.settle", ADJUST_SECONDS, NULL, 0, LIMIT_APP_SECONDS, 0 },
	{ "strategy", ADJUST_ENUM, strategies, 0, 0, 0 },
};

#define ADJUSTABLE_COUNT (sizeof(adjustable) / sizeof(*adjustable))

static const char *const verdict_names[] = {
	[POLICY_ALLOW] = "allow",
	[POLICY_DEFER] = "defer",
	[POLICY_DENY] = "deny",
};

const char *policy_verdict_name(enum policy_verdict v)
{
	if ((unsigned)v >= sizeof(verdict_names) / sizeof(*verdict_names))
		BUG("policy verdict %d", (int)v);
	return verdict_names[v];
}

const char *policy_builtin(const char *name, size_t *len)
{
	if (strncmp(name, POLICY_STD_PREFIX, strlen(POLICY_STD_PREFIX)))
		return NULL;
	/* The Makefile embeds policies/NAME.lua as "std:NAME"; lua/ files
	 * keep their base names, which never start with "std:". */
	return embedded_get(name, len);
}

void policy_decisions_free(struct policy_decisions *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->count; i++) {
		struct policy_decision *x = &d->decisions[i];

		free(x->app);
		free(x->reason);
		value_free(x->adjust);
		free(x->policy);
	}
	free(d->decisions);
	free(d->policy);
	free(d);
}

/* --- building value trees ------------------------------------------- */

static void put_bool(struct value *t, const char *key, int b)
{
	struct value *v = value_put(t, key);

	v->type = VALUE_BOOLEAN;
	v->u.boolean = !!b;
}

static struct value *put_table(struct value *t, const char *key)
{
	struct value *v = value_put(t, key);

	v->type = VALUE_TABLE;
	return v;
}

static void sorted(struct value *t)
{
	if (value_sort(t))
		BUG("duplicate key in a table built by policy.c");
}

/* rules for the prelude: { adjustable = {...}, reason_bytes = N }. */
static void add_rules(struct value *input)
{
	struct value *rules = put_table(input, "rules");
	struct value *adj = put_table(rules, "adjustable");

	for (size_t i = 0; i < ADJUSTABLE_COUNT; i++) {
		const struct adjustable *a = &adjustable[i];
		struct value *r = put_table(adj, a->path), *vals;

		if (a->kind == ADJUST_ENUM) {
			value_put_str(r, "type", "enum");
			vals = put_table(r, "values");
			for (size_t j = 0; a->values[j]; j++)
				value_set_string(value_table_add_int(vals,
					(long long)j + 1), a->values[j],
					strlen(a->values[j]));
		} else {
			value_put_str(r, "type", "number");
			put_bool(r, "integer", a->kind == ADJUST_COUNT);
			value_put_int(r, "min", (long long)a->min);
			value_put_int(r, "max", (long long)a->max);
			put_bool(r, "above", a->above_min);
		}
		sorted(r);
	}
	sorted(adj);
	value_put_int(rules, "reason_bytes", LIMIT_POLICY_REASON_BYTES);
	sorted(rules);
}

/*
 * The prelude's input, { changes, ctx, options, rules }.  The first
 * three are shallow copies of the caller's trees (borrowed: see
 * input_free()), so a large plan is not copied once more here.
 */
static struct value *input_new(const struct value *ctx,
			       const struct value *changes,
			       const struct value *options)
{
	struct value *input = value_new(VALUE_TABLE);

	*value_put(input, "changes") = *changes;
	*value_put(input, "ctx") = *ctx;
	if (options)
		*value_put(input, "options") = *options;
	else
		put_table(input, "options"); /* no entries: nothing to free */
	add_rules(input);
	sorted(input);
	return input;
}

static void input_free(struct value *input)
{
	if (!input)
		return;
	for (size_t i = 0; i < input->u.table.count; i++) {
		struct value_entry *e = &input->u.table.entries[i];

		/* Hand the borrowed trees back untouched. */
		if (strcmp(e->key.u.string.ptr, "rules"))
			memset(&e->val, 0, sizeof(e->val));
	}
	value_free(input);
}

/* --- checking the inputs -------------------------------------------- */

/* A string value without NULs, else NULL. */
static const char *c_string(const struct value *v)
{
	if (!v || v->type != VALUE_STRING ||
	    strlen(v->u.string.ptr) != v->u.string.len)
		return NULL;
	return v->u.string.ptr;
}

/* An app name and its change's index; sorted by name for lookups. */
struct app_ix {
	const char *app;
	size_t i;
};

static int ix_cmp(const void *a, const void *b)
{
	return strcmp(((const struct app_ix *)a)->app,
		      ((const struct app_ix *)b)->app);
}

static int check_ctx(const char *name, const struct value *ctx)
{
	const struct value *now = value_get(ctx, "now");

	if (!ctx || ctx->type != VALUE_TABLE)
		return error_set(FURROW_EINVAL, "%s: ctx is not a table", name);
	if (!now || now->type != VALUE_INTEGER)
		return error_set(FURROW_EINVAL, "%s: ctx.now must be an integer "
				 "(epoch seconds)", name);
	return 0;
}

/* Check changes; *out is its apps, sorted, for the caller to free. */
static int check_changes(struct app_ix **out, const char *name,
			 const struct value *changes)
{
	struct app_ix *ix;
	size_t n;

	*out = NULL;
	if (!changes || !value_is_array(changes))
		return error_set(FURROW_EINVAL, "%s: changes is not a list",
				 name);
	n = changes->u.table.count;
	ix = xcalloc(n + 1, sizeof(*ix));
	for (size_t i = 0; i < n; i++) {
		const struct value *c = &changes->u.table.entries[i].val;
		const char *app = c_string(value_get(c, "app"));
		const char *action = c_string(value_get(c, "action"));

		if (!app || !*app || strlen(app) > APP_NAME_MAX) {
			free(ix);
			return error_set(FURROW_EINVAL, "%s: change %zu has no "
					 "valid app name", name, i + 1);
		}
		if (!action || (strcmp(action, "create") &&
				strcmp(action, "update") &&
				strcmp(action, "remove"))) {
			free(ix);
			return error_set(FURROW_EINVAL, "%s: change for app %s: "
					 "action must be create, update or "
					 "remove", name, app);
		}
		ix[i].app = app;
		ix[i].i = i;
	}
	qsort(ix, n, sizeof(*ix), ix_cmp);
	for (size_t i = 1; i < n; i++) {
		if (!strcmp(ix[i - 1].app, ix[i].app)) {
			int ret = error_set(FURROW_EINVAL, "%s: two changes for "
					    "app %s", name, ix[i].app);
			free(ix);
			return ret;
		}
	}
	*out = ix;
	return 0;
}

/* --- checking the decisions ----------------------------------------- */

static const struct adjustable *find_adjustable(const char *path)
{
	for (size_t i = 0; i < ADJUSTABLE_COUNT; i++)
		if (!strcmp(adjustable[i].path, path))
			return &adjustable[i];
	return NULL;
}

static int value_fits(const struct adjustable *a, const struct value *v)
{
	double d;

	switch (a->kind) {
	case ADJUST_ENUM:
		if (!c_string(v))
			return 0;
		for (size_t j = 0; a->values[j]; j++)
			if (!strcmp(a->values[j], v->u.string.ptr))
				return 1;
		return 0;
	case ADJUST_COUNT:
		return v->type == VALUE_INTEGER && v->u.integer >= a->min &&
		       v->u.integer <= a->max;
	case ADJUST_SECONDS:
		if (v->type == VALUE_INTEGER)
			d = (double)v->u.integer;
		else if (v->type == VALUE_NUMBER)
			d = v->u.number;
		else
			return 0;
		return isfinite(d) && d <= a->max &&
		       (a->above_min ? d > a->min : d >= a->min);
	}
	return 0;
}

/* One adjusted field: key (and, inside a group table, its parent). */
static int check_field(const char *name, const char *app, const char *group,
		       const struct value_entry *e)
{
	struct strbuf path = STRBUF_INIT;
	const struct adjustable *a;
	int ret = 0;

	if (e->key.type != VALUE_STRING) {
		ret = error_set(FURROW_EINVAL, "%s: app %s: adjust has a "
				"field that is not a name", name, app);
		goto out;
	}
	if (group)
		strbuf_addf(&path, "%s.", group);
	strbuf_addstr(&path, e->key.u.string.ptr);
	a = find_adjustable(path.buf);
	if (!a) {
		ret = error_set(FURROW_EINVAL, "%s: app %s: field %.80s may not "
				"be adjusted by a policy", name, app, path.buf);
		goto out;
	}
	if (!value_fits(a, &e->val))
		ret = error_set(FURROW_EINVAL, "%s: app %s: adjust %s: %s value "
				"out of bounds", name, app, path.buf,
				value_type_name(e->val.type));
out:
	strbuf_release(&path);
	return ret;
}

static int check_adjust(const char *name, const char *app,
			const struct value *adj)
{
	int ret;

	if (adj->type != VALUE_TABLE)
		return error_set(FURROW_EINVAL, "%s: app %s: adjust is not a "
				 "table", name, app);
	for (size_t i = 0; i < adj->u.table.count; i++) {
		const struct value_entry *e = &adj->u.table.entries[i];

		if (e->key.type == VALUE_STRING && e->val.type == VALUE_TABLE) {
			for (size_t j = 0; j < e->val.u.table.count; j++) {
				ret = check_field(name, app, e->key.u.string.ptr,
						  &e->val.u.table.entries[j]);
				if (ret)
					return ret;
			}
		} else if ((ret = check_field(name, app, NULL, e))) {
			return ret;
		}
	}
	return 0;
}

/* Move the value in slot out into a new tree. */
static struct value *take(struct value *slot)
{
	struct value *v = value_new(VALUE_NIL);

	*v = *slot;
	memset(slot, 0, sizeof(*slot)); /* VALUE_NIL: nothing left to free */
	return v;
}

static int read_decision(struct policy_decision *d, const char *name,
			 struct value *rec)
{
	struct value *verdict = NULL, *reason = NULL, *until = NULL;
	struct value *adjust = NULL;
	const char *s;
	size_t v;
	int ret;

	if (rec->type != VALUE_TABLE)
		return error_set(FURROW_EINVAL, "%s: app %s: the decision is "
				 "not a table", name, d->app);
	for (size_t i = 0; i < rec->u.table.count; i++) {
		struct value_entry *e = &rec->u.table.entries[i];
		const char *k = c_string(&e->key);

		if (k && !strcmp(k, "verdict"))
			verdict = &e->val;
		else if (k && !strcmp(k, "reason"))
			reason = &e->val;
		else if (k && !strcmp(k, "until"))
			until = &e->val;
		else if (k && !strcmp(k, "adjust"))
			adjust = &e->val;
		else
			return error_set(FURROW_EINVAL, "%s: app %s: the decision "
					 "has an unknown field", name, d->app);
	}
	s = c_string(verdict);
	for (v = 0; s && v < sizeof(verdict_names) / sizeof(*verdict_names);
	     v++)
		if (!strcmp(s, verdict_names[v]))
			break;
	if (!s || v == sizeof(verdict_names) / sizeof(*verdict_names))
		return error_set(FURROW_EINVAL, "%s: app %s: verdict must be "
				 "allow, defer or deny", name, d->app);
	d->verdict = (enum policy_verdict)v;
	d->decided = 1;
	if (reason) {
		if (reason->type == VALUE_STRING &&
		    reason->u.string.len > LIMIT_POLICY_REASON_BYTES)
			return error_set(FURROW_ELIMIT, "%s: app %s: reason "
					 "longer than the limit of %d bytes",
					 name, d->app,
					 LIMIT_POLICY_REASON_BYTES);
		if (!(s = c_string(reason)) || !*s)
			return error_set(FURROW_EINVAL, "%s: app %s: reason must "
					 "be a non-empty string without NUL",
					 name, d->app);
		d->reason = xstrdup(s);
	} else if (d->verdict != POLICY_ALLOW) {
		return error_set(FURROW_EINVAL, "%s: app %s: %s without a "
				 "reason", name, d->app,
				 verdict_names[d->verdict]);
	}
	if (until) {
		if (d->verdict != POLICY_DEFER || until->type != VALUE_INTEGER ||
		    until->u.integer < 0)
			return error_set(FURROW_EINVAL, "%s: app %s: until must "
					 "be epoch seconds, and only with "
					 "defer", name, d->app);
		d->has_until = 1;
		d->until = until->u.integer;
	}
	if (adjust) {
		if (d->verdict == POLICY_DENY)
			return error_set(FURROW_EINVAL, "%s: app %s: a denied "
					 "change has no adjustments", name,
					 d->app);
		if ((ret = check_adjust(name, d->app, adjust)))
			return ret;
		d->adjust = take(adjust);
	}
	return 0;
}

static int read_decisions(struct policy_decisions *res, const char *name,
			  struct value *root, const struct app_ix *ix,
			  size_t n)
{
	struct value *list;
	int ret;

	if (root->type != VALUE_TABLE || root->u.table.count != 1 ||
	    !(list = (struct value *)value_get(root, "decisions")) ||
	    list->type != VALUE_TABLE)
		return error_set(FURROW_EINVAL, "%s: the policy runner returned "
				 "a malformed result", name);
	for (size_t i = 0; i < list->u.table.count; i++) {
		struct value_entry *e = &list->u.table.entries[i];
		struct app_ix key = { c_string(&e->key), 0 }, *hit = NULL;

		if (key.app)
			hit = bsearch(&key, ix, n, sizeof(*ix), ix_cmp);
		if (!hit)
			return error_set(FURROW_EINVAL, "%s: decided for app "
					 "%.64s, which has no proposed change",
					 name, key.app ? key.app : "(not a name)");
		/* Keys arrive sorted and unique (valuecodec checks). */
		ret = read_decision(&res->decisions[hit->i], name, &e->val);
		if (ret)
			return ret;
	}
	return 0;
}

/* --- running -------------------------------------------------------- */

int policy_run(struct policy_decisions **out, const char *name,
	       const char *src, size_t len, const struct value *ctx,
	       const struct value *changes, const struct value *options)
{
	static const struct sandbox_limits limits = {
		LIMIT_POLICY_MEMORY_BYTES, LIMIT_POLICY_INSTRUCTIONS,
		LIMIT_POLICY_MILLISECONDS,
	};
	struct policy_decisions *res = NULL;
	struct value *input = NULL, *root = NULL;
	struct app_ix *ix = NULL;
	const char *prelude;
	size_t plen, n;
	int ret;

	*out = NULL;
	if (len > LIMIT_POLICY_FILE_BYTES) {
		ret = error_set(FURROW_ELIMIT, "%s: %zu bytes, more than the "
				"limit of %u", name, len,
				LIMIT_POLICY_FILE_BYTES);
		goto out;
	}
	if ((ret = check_ctx(name, ctx)) ||
	    (ret = check_changes(&ix, name, changes)))
		goto out;
	if (options && options->type != VALUE_TABLE) {
		ret = error_set(FURROW_EINVAL, "%s: options is not a table",
				name);
		goto out;
	}
	n = changes->u.table.count;
	res = xcalloc(1, sizeof(*res));
	res->policy = xstrdup(name);
	verify_sha256_hex(res->sha256, src, len);
	res->decisions = xcalloc(n + 1, sizeof(*res->decisions));
	res->count = n;
	for (size_t i = 0; i < n; i++) {
		struct policy_decision *d = &res->decisions[i];

		d->app = xstrdup(c_string(value_get(
			&changes->u.table.entries[i].val, "app")));
		d->verdict = POLICY_ALLOW;
		d->policy = xstrdup(name);
		memcpy(d->sha256, res->sha256, sizeof(d->sha256));
	}

	prelude = embedded_get(PRELUDE_FILE, &plen);
	if (!prelude)
		BUG("built-in %s is missing", PRELUDE_FILE);
	input = input_new(ctx, changes, options);
	ret = sandbox_eval_program_isolated(&root, POLICY_PRELUDE_NAME,
					    prelude, plen, name, src, len,
					    input, &limits);
	if (ret)
		goto out;
	if ((ret = read_decisions(res, name, root, ix, n)))
		goto out;
	*out = res;
	res = NULL;
out:
	input_free(input);
	value_free(root);
	free(ix);
	policy_decisions_free(res);
	return ret;
}

struct value *policy_decisions_to_value(const struct policy_decisions *d)
{
	struct value *root = value_new(VALUE_TABLE);
	struct value *list;

	value_put_str(root, "policy", d->policy);
	value_put_str(root, "sha256", d->sha256);
	list = put_table(root, "decisions");
	for (size_t i = 0; i < d->count; i++) {
		const struct policy_decision *x = &d->decisions[i];
		struct value *rec = value_table_add_int(list, (long long)i + 1);

		rec->type = VALUE_TABLE;
		value_put_str(rec, "app", x->app);
		value_put_str(rec, "verdict", policy_verdict_name(x->verdict));
		put_bool(rec, "decided", x->decided);
		if (x->reason)
			value_put_str(rec, "reason", x->reason);
		if (x->has_until)
			value_put_int(rec, "until", x->until);
		if (x->adjust)
			value_copy_into(value_put(rec, "adjust"), x->adjust);
		sorted(rec);
	}
	sorted(root);
	return root;
}
