/*
 * appspec.c - validate one app spec (see appspec.h).
 *
 * The schema is a few const tables of fields, one per table of the spec
 * (the app, health, limits, backup); unknown-field detection, the kinds
 * a field belongs to, required fields and suggestions are all driven by
 * them, so a new field is one line in a table, its check function and a
 * row in the README's "App fields".  The string forms (image references,
 * ports, paths, durations) and the message collector are in
 * core/appspec_forms.c; the rules between apps (dependencies) in
 * core/appspec_deps.c.
 *
 * Problems are collected rather than stopping at the first, so that a
 * user fixing furrow.lua sees them all at once; the message is bounded by
 * LIMIT_APP_ERRORS and by what error.h keeps.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "appspec.h"
#include "appspec_int.h"
#include "bug.h"
#include "error.h"
#include "limits.h"
#include "repopath.h"
#include "suggest.h"
#include "banned.h"

#define KC (1u << APPSPEC_CONTAINER)
#define KS (1u << APPSPEC_SERVICE)
#define KD (1u << APPSPEC_SYSTEMD)
#define KF (1u << APPSPEC_FILES)
#define KALL (KC | KS | KD | KF)

#define USER_MAX_BYTES   32
#define UID_MAX_VALUE    4294967294LL /* (uid_t)-1 means "no change" */
#define MEMORY_MIN       (1ull << 20)
#define MEMORY_MAX       (1ull << 50)
#define CPU_MAX          4096.0
#define PIDS_MAX         4194304   /* Linux's pid_max ceiling */
#define NOFILE_MAX       1048576   /* Linux's default nr_open */

static const char *const kind_names[] = {
	[APPSPEC_CONTAINER] = "container",
	[APPSPEC_SERVICE] = "service",
	[APPSPEC_SYSTEMD] = "systemd",
	[APPSPEC_FILES] = "files",
};
#define NKINDS (sizeof(kind_names) / sizeof(*kind_names))

const char *appspec_kind_name(enum appspec_kind kind)
{
	if ((size_t)kind >= NKINDS)
		BUG("app kind %d", (int)kind);
	return kind_names[kind];
}

struct ctx {
	const char *file;
	int line;
	struct appspec *a;
	int kind_known;
	struct strbuf path;    /* the field being checked, "health.interval" */
	struct strbuf scratch; /* a value shown in a message */
	struct appspec_report *rep;
	/* Fields seen, for the checks between fields of one app. */
	const struct value *health_expect_status, *health_body;
};

__attribute__((format(printf, 3, 4)))
static void fail(struct ctx *c, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	appspec_report_add(c->rep, code, c->file, c->line, c->a->name,
			   c->path.buf, fmt, ap);
	va_end(ap);
}

/* A value as the user wrote it, for "got ...": strings quoted. */
static const char *shown(struct ctx *c, const struct value *v)
{
	strbuf_reset(&c->scratch);
	switch (v->type) {
	case VALUE_STRING:
		appspec_show(&c->scratch, v->u.string.ptr, v->u.string.len);
		break;
	case VALUE_INTEGER:
		strbuf_addf(&c->scratch, "%lld", v->u.integer);
		break;
	case VALUE_NUMBER:
		value_add_number(&c->scratch, v->u.number);
		break;
	case VALUE_BOOLEAN:
		strbuf_addstr(&c->scratch, v->u.boolean ? "true" : "false");
		break;
	default:
		strbuf_addstr(&c->scratch, value_type_name(v->type));
	}
	return c->scratch.buf;
}

/* Descend into key (of a string-keyed table); returns the old length. */
static size_t push_key(struct ctx *c, const char *key, size_t len)
{
	size_t old = c->path.len, i;

	for (i = 0; i < len && appspec_is_ident_char(key[i]); i++)
		;
	if (len && i == len && !(key[0] >= '0' && key[0] <= '9')) {
		if (c->path.len)
			strbuf_addch(&c->path, '.');
		strbuf_add(&c->path, key, len);
	} else {
		strbuf_addch(&c->path, '[');
		appspec_show(&c->path, key, len);
		strbuf_addch(&c->path, ']');
	}
	return old;
}

/* Descend into element i (0-based) of a list, shown 1-based as Lua does. */
static size_t push_index(struct ctx *c, size_t i)
{
	size_t old = c->path.len;

	strbuf_addf(&c->path, "[%zu]", i + 1);
	return old;
}

static void pop(struct ctx *c, size_t old)
{
	strbuf_setlen(&c->path, old);
}

/* ---- scalar checks ----------------------------------------------------- */

/* A string without NULs within LIMIT_APP_STRING_BYTES, or NULL (reported). */
static const char *want_string(struct ctx *c, const struct value *v,
			       const char *what)
{
	if (v->type != VALUE_STRING) {
		fail(c, FURROW_EINVAL, "expected %s, got %s", what,
		     value_type_name(v->type));
		return NULL;
	}
	if (v->u.string.len > LIMIT_APP_STRING_BYTES) {
		fail(c, FURROW_ELIMIT, "a string of %zu bytes, more than the "
		     "limit of %u (LIMIT_APP_STRING_BYTES)", v->u.string.len,
		     LIMIT_APP_STRING_BYTES);
		return NULL;
	}
	if (memchr(v->u.string.ptr, '\0', v->u.string.len)) {
		fail(c, FURROW_EINVAL, "contains a NUL byte");
		return NULL;
	}
	return v->u.string.ptr;
}

static void want_bool(struct ctx *c, const struct value *v, int *out)
{
	if (v->type != VALUE_BOOLEAN)
		fail(c, FURROW_EINVAL, "expected true or false, got %s",
		     value_type_name(v->type));
	else
		*out = v->u.boolean;
}

static int is_number(const struct value *v)
{
	return v->type == VALUE_INTEGER || v->type == VALUE_NUMBER;
}

static double number_of(const struct value *v)
{
	return v->type == VALUE_INTEGER ? (double)v->u.integer : v->u.number;
}

/* Seconds: > 0 (or >= 0 if zero_ok) and at most LIMIT_APP_SECONDS. */
static void want_seconds(struct ctx *c, const struct value *v, double *out,
			 int zero_ok)
{
	const char *want = zero_ok ? "a number >= 0" : "a number > 0";
	double d;

	if (!is_number(v)) {
		fail(c, FURROW_EINVAL, "expected %s, got %s", want,
		     value_type_name(v->type));
		return;
	}
	d = number_of(v);
	if (!(d > 0 || (zero_ok && d == 0))) {
		fail(c, FURROW_EINVAL, "expected %s, got %s", want, shown(c, v));
		return;
	}
	if (d > LIMIT_APP_SECONDS) {
		fail(c, FURROW_ELIMIT, "%s seconds is more than the limit of %g "
		     "(LIMIT_APP_SECONDS)", shown(c, v), LIMIT_APP_SECONDS);
		return;
	}
	*out = d;
}

/* An integer in [min, max]; an integral float (1e3) counts. */
static int want_int(struct ctx *c, const struct value *v, long long min,
		    long long max, long long *out)
{
	long long n;

	if (v->type == VALUE_INTEGER) {
		n = v->u.integer;
	} else if (v->type == VALUE_NUMBER && v->u.number >= -9e15 &&
		   v->u.number <= 9e15 &&
		   v->u.number == (double)(long long)v->u.number) {
		n = (long long)v->u.number;
	} else {
		fail(c, FURROW_EINVAL, "expected an integer from %lld to %lld, "
		     "got %s", min, max, v->type == VALUE_NUMBER ? shown(c, v) :
		     value_type_name(v->type));
		return -1;
	}
	if (n < min || n > max) {
		fail(c, FURROW_EINVAL, "expected an integer from %lld to %lld, "
		     "got %lld", min, max, n);
		return -1;
	}
	*out = n;
	return 0;
}

/* A list (keys 1..n) of at most max elements; its length, or -1. */
static long want_list(struct ctx *c, const struct value *v, size_t max,
		      const char *limit, int nonempty)
{
	if (v->type != VALUE_TABLE || !value_is_array(v)) {
		fail(c, FURROW_EINVAL, "expected a list { ... }, got %s",
		     v->type == VALUE_TABLE ? "a table with named keys" :
		     value_type_name(v->type));
		return -1;
	}
	if (v->u.table.count > max) {
		fail(c, FURROW_ELIMIT, "%zu entries, more than the limit of %zu "
		     "(%s)", v->u.table.count, max, limit);
		return -1;
	}
	if (nonempty && !v->u.table.count) {
		fail(c, FURROW_EINVAL, "must not be empty");
		return -1;
	}
	return (long)v->u.table.count;
}

/* A table of name = value (string keys only), at most max; count or -1. */
static long want_map(struct ctx *c, const struct value *v, size_t max,
		     const char *limit)
{
	if (v->type != VALUE_TABLE) {
		fail(c, FURROW_EINVAL, "expected a table { name = value, ... }, "
		     "got %s", value_type_name(v->type));
		return -1;
	}
	if (v->u.table.count > max) {
		fail(c, FURROW_ELIMIT, "%zu entries, more than the limit of %zu "
		     "(%s)", v->u.table.count, max, limit);
		return -1;
	}
	for (size_t i = 0; i < v->u.table.count; i++)
		if (v->u.table.entries[i].key.type != VALUE_STRING) {
			fail(c, FURROW_EINVAL, "expected a table { name = value, "
			     "... }, got a list");
			return -1;
		}
	return (long)v->u.table.count;
}

/* A repository path (repopath.h); with suffix, a file of that type. */
static int check_repo_path(struct ctx *c, const char *s, const char *suffix)
{
	size_t n = strlen(s), sn = suffix ? strlen(suffix) : 0;
	const char *base;
	int ret;

	if ((ret = repopath_check(s))) {
		fail(c, ret, "%s (a relative path in the repository)",
		     error_message());
		return ret;
	}
	base = strrchr(s, '/') ? strrchr(s, '/') + 1 : s;
	if (suffix && (n < sn || strcmp(s + n - sn, suffix) ||
		       strlen(base) <= sn)) {
		strbuf_reset(&c->scratch);
		appspec_show(&c->scratch, s, n);
		fail(c, FURROW_EINVAL, "%s must name a %s file", c->scratch.buf,
		     suffix);
		return FURROW_EINVAL;
	}
	return 0;
}

/* ---- the schema walker ------------------------------------------------- */

struct field {
	const char *key;
	unsigned kinds;     /* kinds of app the field belongs to */
	unsigned required;  /* kinds it is required for */
	void (*check)(struct ctx *c, const struct value *v);
};

#define MAX_FIELDS 32

static void kinds_text(struct strbuf *sb, unsigned kinds)
{
	int first = 1;

	for (size_t k = 0; k < NKINDS; k++)
		if (kinds & (1u << k)) {
			strbuf_addf(sb, "%s%s", first ? "" : ", ", kind_names[k]);
			first = 0;
		}
}

static void walk(struct ctx *c, const struct field *fields, size_t n,
		 const struct value *t)
{
	unsigned kind_bit = c->kind_known ? 1u << c->a->kind : KALL;
	unsigned char seen[MAX_FIELDS] = { 0 };
	const char *names[MAX_FIELDS];

	if (n > MAX_FIELDS)
		BUG("%zu fields in one table", n);
	for (size_t i = 0; i < t->u.table.count; i++) {
		const struct value_entry *e = &t->u.table.entries[i];
		const struct field *f = NULL;
		size_t old, m = 0;

		if (e->key.type != VALUE_STRING) {
			fail(c, FURROW_EINVAL, "unexpected list element [%lld]; "
			     "expected name = value", e->key.u.integer);
			continue;
		}
		for (size_t j = 0; j < n && !f; j++)
			if (strlen(fields[j].key) == e->key.u.string.len &&
			    !memcmp(fields[j].key, e->key.u.string.ptr,
				    e->key.u.string.len))
				f = &fields[j];
		old = push_key(c, e->key.u.string.ptr, e->key.u.string.len);
		if (!f) {
			const char *hint = NULL;

			if (c->rep->count < LIMIT_APP_ERRORS &&
			    !memchr(e->key.u.string.ptr, '\0',
				    e->key.u.string.len)) {
				for (size_t j = 0; j < n; j++)
					if (fields[j].kinds & kind_bit)
						names[m++] = fields[j].key;
				hint = suggest_pick(e->key.u.string.ptr, names, m);
			}
			if (hint)
				fail(c, FURROW_EINVAL, "unknown field (did you "
				     "mean %s?)", hint);
			else
				fail(c, FURROW_EINVAL, "unknown field");
		} else if (!(f->kinds & kind_bit)) {
			struct strbuf kinds = STRBUF_INIT;

			kinds_text(&kinds, f->kinds);
			fail(c, FURROW_EINVAL, "not a field of a %s app (only "
			     "for %s)", kind_names[c->a->kind], kinds.buf);
			strbuf_release(&kinds);
		} else {
			seen[f - fields] = 1;
			f->check(c, &e->val);
		}
		pop(c, old);
	}
	for (size_t j = 0; j < n; j++) {
		size_t old;

		if (seen[j] || !(fields[j].required & kind_bit) ||
		    (!c->kind_known && fields[j].required != KALL))
			continue;
		old = push_key(c, fields[j].key, strlen(fields[j].key));
		if (fields[j].required == KALL)
			fail(c, FURROW_EINVAL, "missing (required)");
		else
			fail(c, FURROW_EINVAL, "missing (required for a %s app)",
			     kind_names[c->a->kind]);
		pop(c, old);
	}
}

/* ---- field checks ------------------------------------------------------ */

static void check_kind(struct ctx *c, const struct value *v)
{
	(void)c;
	(void)v; /* read before the walk: every other field depends on it */
}

static void read_kind(struct ctx *c, const struct value *spec)
{
	const struct value *v = value_get(spec, "kind");
	const char *s, *hint;
	size_t old;

	old = push_key(c, "kind", 4);
	if (!v) {
		fail(c, FURROW_EINVAL, "missing (required): \"container\", "
		     "\"service\", \"systemd\" or \"files\"");
		goto out;
	}
	if (!(s = want_string(c, v, "a string")))
		goto out;
	for (size_t k = 0; k < NKINDS; k++)
		if (!strcmp(s, kind_names[k])) {
			c->a->kind = (enum appspec_kind)k;
			c->kind_known = 1;
			goto out;
		}
	hint = suggest_pick(s, kind_names, NKINDS);
	fail(c, FURROW_EINVAL, "unknown kind %s: use \"container\", "
	     "\"service\", \"systemd\" or \"files\"%s%s%s", shown(c, v),
	     hint ? " (did you mean " : "", hint ? hint : "", hint ? "?)" : "");
out:
	pop(c, old);
}

static void check_image(struct ctx *c, const struct value *v)
{
	const char *s = want_string(c, v, "a string"), *why, *digest;

	if (!s)
		return;
	if ((why = appspec_image_problem(s, &digest))) {
		fail(c, FURROW_EINVAL, "%s is not an image reference: %s",
		     shown(c, v), why);
		return;
	}
	c->a->image = xstrdup(s);
	c->a->image_digest = digest ? xstrdup(digest) : NULL;
}

static int ports_clash(const struct appspec_port *a,
		       const struct appspec_port *b)
{
	return a->host_port == b->host_port && a->udp == b->udp &&
	       (!a->host_ip || !b->host_ip || !strcmp(a->host_ip, b->host_ip));
}

static void check_ports(struct ctx *c, const struct value *v)
{
	struct appspec *a = c->a;
	long n = want_list(c, v, LIMIT_APP_PORTS, "LIMIT_APP_PORTS", 0);

	if (n < 0)
		return;
	a->ports = xcalloc((size_t)n + 1, sizeof(*a->ports));
	for (long i = 0; i < n; i++) {
		const struct value *e = &v->u.table.entries[i].val;
		struct appspec_port *p = &a->ports[a->port_count];
		size_t old = push_index(c, (size_t)i);
		const char *s = want_string(c, e, "a string \"[IP:]HOST:CONTAINER\""),
			   *why;

		if (s && (why = appspec_port_problem(s, p))) {
			fail(c, FURROW_EINVAL, "%s is not a port mapping: %s "
			     "(e.g. \"127.0.0.1:8080:80\", \"5353:53/udp\")",
			     shown(c, e), why);
			free(p->host_ip);
			memset(p, 0, sizeof(*p));
		} else if (s) {
			size_t j;

			for (j = 0; j < a->port_count; j++)
				if (ports_clash(&a->ports[j], p))
					break;
			if (j < a->port_count) {
				fail(c, FURROW_EINVAL, "host port %u/%s is "
				     "published twice", p->host_port,
				     p->udp ? "udp" : "tcp");
				free(p->host_ip);
				memset(p, 0, sizeof(*p));
			} else {
				a->port_count++;
			}
		}
		pop(c, old);
	}
}

static void check_privileged(struct ctx *c, const struct value *v)
{
	want_bool(c, v, &c->a->privileged);
}

static void check_read_only(struct ctx *c, const struct value *v)
{
	want_bool(c, v, &c->a->read_only);
}

static void check_purge(struct ctx *c, const struct value *v)
{
	want_bool(c, v, &c->a->purge);
}

static void check_network(struct ctx *c, const struct value *v)
{
	const char *s = want_string(c, v, "a string");

	if (!s)
		return;
	if (!strcmp(s, "private"))
		c->a->network = APPSPEC_NET_PRIVATE;
	else if (!strcmp(s, "host"))
		c->a->network = APPSPEC_NET_HOST;
	else if (!strcmp(s, "none"))
		c->a->network = APPSPEC_NET_NONE;
	else
		fail(c, FURROW_EINVAL, "expected \"private\", \"host\" or "
		     "\"none\", got %s", shown(c, v));
}

static void check_files(struct ctx *c, const struct value *v)
{
	const char *s = want_string(c, v, "a string (a directory in the "
				    "repository)");

	if (s && !check_repo_path(c, s, NULL))
		c->a->files = xstrdup(s);
}

static void check_unit(struct ctx *c, const struct value *v)
{
	const char *s = want_string(c, v, "a string (a .service file in the "
				    "repository)");

	if (s && !check_repo_path(c, s, ".service"))
		c->a->unit = xstrdup(s);
}

static void check_target(struct ctx *c, const struct value *v)
{
	const char *s = want_string(c, v, "a string (an absolute path)"), *why;

	if (!s)
		return;
	if ((why = appspec_abs_path_problem(s)))
		fail(c, FURROW_EINVAL, "%s %s", shown(c, v), why);
	else
		c->a->target = xstrdup(s);
}

/*
 * An argument vector.  Outside containers a relative program is a path
 * in the app's files (the active slot), so it follows the repository
 * path rules; an absolute one is taken as it is.
 */
static void check_argv(struct ctx *c, const struct value *v,
		       struct appspec_argv *out)
{
	long n = want_list(c, v, LIMIT_APP_EXEC_ARGS, "LIMIT_APP_EXEC_ARGS", 1);
	char **argv;
	int bad = 0;

	if (n < 0)
		return;
	argv = xcalloc((size_t)n + 1, sizeof(*argv));
	for (long i = 0; i < n; i++) {
		const struct value *e = &v->u.table.entries[i].val;
		size_t old = push_index(c, (size_t)i);
		const char *s = want_string(c, e, "a string"), *why;

		if (!s) {
			bad = 1;
		} else if (i == 0 && !*s) {
			fail(c, FURROW_EINVAL, "the program must not be empty");
			bad = 1;
		} else if (i == 0 && s[0] == '/' &&
			   (why = appspec_abs_path_problem(s))) {
			fail(c, FURROW_EINVAL, "%s %s", shown(c, e), why);
			bad = 1;
		} else if (i == 0 && s[0] != '/' && c->kind_known &&
			   c->a->kind != APPSPEC_CONTAINER &&
			   check_repo_path(c, s, NULL)) {
			bad = 1;
		}
		if (s)
			argv[i] = xstrdup(s);
		pop(c, old);
	}
	if (bad) {
		for (long i = 0; i < n; i++)
			free(argv[i]);
		free(argv);
		return;
	}
	out->argv = argv;
	out->argc = (size_t)n;
}

static void check_exec(struct ctx *c, const struct value *v)
{
	check_argv(c, v, &c->a->exec);
}

static void check_user(struct ctx *c, const struct value *v)
{
	struct strbuf sb = STRBUF_INIT;
	const char *s;

	if (v->type == VALUE_INTEGER) {
		if (v->u.integer < 0 || v->u.integer > UID_MAX_VALUE) {
			fail(c, FURROW_EINVAL, "a uid is 0 to %lld, got %lld",
			     UID_MAX_VALUE, v->u.integer);
			return;
		}
		strbuf_addf(&sb, "%lld", v->u.integer);
		c->a->user = strbuf_detach(&sb, NULL);
		return;
	}
	if (!(s = want_string(c, v, "a user name or uid")))
		return;
	if (strspn(s, "0123456789") == strlen(s)) {
		if (!appspec_all_digits(s, 10) ||
		    strtoll(s, NULL, 10) > UID_MAX_VALUE) {
			fail(c, FURROW_EINVAL, "a uid is 0 to %lld, got %s",
			     UID_MAX_VALUE, s);
			return;
		}
	} else if (!appspec_is_name(s, strlen(s), USER_MAX_BYTES, 1, "._-")) {
		fail(c, FURROW_EINVAL, "%s is not a user name (1 to %d of "
		     "A-Z a-z 0-9 . _ -, starting with a letter or digit) "
		     "or uid", shown(c, v), USER_MAX_BYTES);
		return;
	}
	c->a->user = xstrdup(s);
}

/* name = "string" pairs of a map already checked by want_map(). */
static struct appspec_pair *read_pairs(struct ctx *c, const struct value *v,
				       size_t *count, int (*key_ok)(const char *,
				       size_t), const char *key_rule,
				       int (*val_ok)(struct ctx *,
				       const char *, const struct value *))
{
	struct appspec_pair *pairs = xcalloc(v->u.table.count + 1,
					     sizeof(*pairs));

	*count = 0;
	for (size_t i = 0; i < v->u.table.count; i++) {
		const struct value_entry *e = &v->u.table.entries[i];
		size_t old = push_key(c, e->key.u.string.ptr, e->key.u.string.len);
		const char *s;

		if (!key_ok(e->key.u.string.ptr, e->key.u.string.len)) {
			fail(c, FURROW_EINVAL, "bad name: %s", key_rule);
		} else if ((s = want_string(c, &e->val, "a string")) &&
			   (!val_ok || val_ok(c, s, &e->val))) {
			pairs[*count].key = xstrdup(e->key.u.string.ptr);
			pairs[*count].value = xstrdup(s);
			(*count)++;
		}
		pop(c, old);
	}
	return pairs;
}

static void check_env(struct ctx *c, const struct value *v)
{
	if (want_map(c, v, LIMIT_APP_ENV, "LIMIT_APP_ENV") < 0)
		return;
	c->a->env = read_pairs(c, v, &c->a->env_count, appspec_is_identifier,
			       "environment names are [A-Za-z_][A-Za-z0-9_]*",
			       NULL);
}

static int label_value_ok(struct ctx *c, const char *s, const struct value *v)
{
	if (appspec_is_label(s, strlen(s)))
		return 1;
	fail(c, FURROW_EINVAL, "%s is not a label value (1 to %d of "
	     "A-Z a-z 0-9 . _ - /)", shown(c, v), LIMIT_LABEL_BYTES);
	return 0;
}

static void check_on(struct ctx *c, const struct value *v)
{
	if (want_map(c, v, LIMIT_APP_SELECTOR, "LIMIT_APP_SELECTOR") < 0)
		return;
	c->a->on = read_pairs(c, v, &c->a->on_count, appspec_is_label,
			      "label names are 1 to 128 of A-Z a-z 0-9 . _ - /",
			      label_value_ok);
}

static int secret_path_ok(struct ctx *c, const char *s, const struct value *v)
{
	(void)v;
	return !check_repo_path(c, s, ".age");
}

static void check_secrets(struct ctx *c, const struct value *v)
{
	if (want_map(c, v, LIMIT_APP_SECRETS, "LIMIT_APP_SECRETS") < 0)
		return;
	c->a->secrets = read_pairs(c, v, &c->a->secret_count,
				   appspec_is_identifier,
				   "secret names are [A-Za-z_][A-Za-z0-9_]*",
				   secret_path_ok);
}

static void check_memory(struct ctx *c, const struct value *v)
{
	unsigned long long bytes = 0, mult = 1;
	const char *s;
	size_t n;

	if (v->type == VALUE_INTEGER) {
		bytes = v->u.integer > 0 ? (unsigned long long)v->u.integer : 0;
	} else if ((s = want_string(c, v, "bytes or a size such as \"256M\""))) {
		n = strlen(s);
		if (n && strchr("KkMmGgTt", s[n - 1])) {
			static const char units[] = "kmgt";
			char u = (char)(s[n - 1] | 0x20);

			for (const char *p = units; *p; p++) {
				mult <<= 10;
				if (*p == u)
					break;
			}
			n--;
		}
		if (!n || n > 12 || strspn(s, "0123456789") != n) {
			fail(c, FURROW_EINVAL, "expected bytes or a size such as "
			     "\"256M\" (K, M, G, T: powers of 1024), got %s",
			     shown(c, v));
			return;
		}
		bytes = strtoull(s, NULL, 10);
		bytes = bytes > MEMORY_MAX / mult ? MEMORY_MAX + 1 : bytes * mult;
	} else {
		return;
	}
	if (bytes < MEMORY_MIN || bytes > MEMORY_MAX) {
		fail(c, FURROW_EINVAL, "expected 1M to 1024T, got %s (a limit "
		     "below 1M is surely a typo: write \"256M\")", shown(c, v));
		return;
	}
	c->a->limits.memory = bytes;
}

static void check_cpu(struct ctx *c, const struct value *v)
{
	if (!is_number(v)) {
		fail(c, FURROW_EINVAL, "expected a number of CPUs > 0, got %s",
		     value_type_name(v->type));
		return;
	}
	if (!(number_of(v) > 0 && number_of(v) <= CPU_MAX)) {
		fail(c, FURROW_EINVAL, "expected a number of CPUs > 0 and at "
		     "most %g, got %s", CPU_MAX, shown(c, v));
		return;
	}
	c->a->limits.cpu = number_of(v);
}

static void check_pids(struct ctx *c, const struct value *v)
{
	long long n;

	if (!want_int(c, v, 1, PIDS_MAX, &n))
		c->a->limits.pids = (long)n;
}

static void check_nofile(struct ctx *c, const struct value *v)
{
	long long n;

	if (!want_int(c, v, 1, NOFILE_MAX, &n))
		c->a->limits.nofile = (long)n;
}

static const struct field limit_fields[] = {
	{ "memory", KALL, 0, check_memory },
	{ "cpu", KALL, 0, check_cpu },
	{ "pids", KALL, 0, check_pids },
	{ "nofile", KALL, 0, check_nofile },
};

static void check_limits(struct ctx *c, const struct value *v)
{
	if (want_map(c, v, MAX_FIELDS, "fields") >= 0)
		walk(c, limit_fields, sizeof(limit_fields) /
		     sizeof(*limit_fields), v);
}

/* Room for n more volumes: with the kind unknown, both volumes and data
 * may be read into the one list. */
static void grow_volumes(struct appspec *a, size_t n)
{
	a->volumes = xrealloc(a->volumes, (a->volume_count + n + 1) *
			      sizeof(*a->volumes));
}

/* volumes = { "NAME:/path[:ro]" } and data = { "NAME" } share a list. */
static void add_volume(struct ctx *c, const char *name, size_t nlen,
		       const char *path, int ro)
{
	struct appspec *a = c->a;

	for (size_t j = 0; j < a->volume_count; j++) {
		const struct appspec_volume *o = &a->volumes[j];

		if (path ? o->path && !strcmp(o->path, path) :
		    strlen(o->name) == nlen && !memcmp(o->name, name, nlen)) {
			fail(c, FURROW_EINVAL, "%s is listed twice",
			     path ? "that mount path" : "that data name");
			return;
		}
	}
	a->volumes[a->volume_count].name = xstrndup(name, nlen);
	a->volumes[a->volume_count].path = path ? xstrdup(path) : NULL;
	a->volumes[a->volume_count].read_only = ro;
	a->volume_count++;
}

static void check_volumes(struct ctx *c, const struct value *v)
{
	long n = want_list(c, v, LIMIT_APP_VOLUMES, "LIMIT_APP_VOLUMES", 0);

	if (n < 0)
		return;
	grow_volumes(c->a, (size_t)n);
	for (long i = 0; i < n; i++) {
		const struct value *e = &v->u.table.entries[i].val;
		size_t old = push_index(c, (size_t)i);
		const char *s = want_string(c, e, "a string \"NAME:/path\"");
		const char *colon = s ? strchr(s, ':') : NULL, *why = NULL;
		struct strbuf path = STRBUF_INIT;
		int ro = 0;

		if (!s)
			goto next;
		if (!colon || !appspec_is_data_name(s, (size_t)(colon - s))) {
			fail(c, FURROW_EINVAL, "%s is not NAME:/path[:ro] (NAME "
			     "is 1 to 63 of a-z 0-9 . _ -, starting with a-z "
			     "or 0-9)", shown(c, e));
			goto next;
		}
		strbuf_addstr(&path, colon + 1);
		if (path.len > 3 && (!strcmp(path.buf + path.len - 3, ":ro") ||
				     !strcmp(path.buf + path.len - 3, ":rw"))) {
			ro = path.buf[path.len - 2] == 'r' &&
			     path.buf[path.len - 1] == 'o';
			strbuf_setlen(&path, path.len - 3);
		}
		if ((why = appspec_abs_path_problem(path.buf)) ||
		    strchr(path.buf, ':'))
			fail(c, FURROW_EINVAL, "%s: the mount path %s", shown(c, e),
			     why ? why : "must not contain ':' (options are :ro "
			     "or :rw)");
		else
			add_volume(c, s, (size_t)(colon - s), path.buf, ro);
next:
		strbuf_release(&path);
		pop(c, old);
	}
}

static void check_data(struct ctx *c, const struct value *v)
{
	long n = want_list(c, v, LIMIT_APP_VOLUMES, "LIMIT_APP_VOLUMES", 0);

	if (n < 0)
		return;
	grow_volumes(c->a, (size_t)n);
	for (long i = 0; i < n; i++) {
		const struct value *e = &v->u.table.entries[i].val;
		size_t old = push_index(c, (size_t)i);
		const char *s = want_string(c, e, "a string (a data name)");

		if (s && !appspec_is_data_name(s, strlen(s)))
			fail(c, FURROW_EINVAL, "%s is not a data name (1 to 63 of "
			     "a-z 0-9 . _ -, starting with a-z or 0-9)",
			     shown(c, e));
		else if (s)
			add_volume(c, s, strlen(s), NULL, 0);
		pop(c, old);
	}
}

static void check_health_http(struct ctx *c, const struct value *v)
{
	const char *s = want_string(c, v, "a string (an http:// URL)"), *host;
	struct appspec_health *h = &c->a->health;

	if (!s)
		return;
	host = !strncmp(s, "http://", 7) ? s + 7 :
	       !strncmp(s, "https://", 8) ? s + 8 : NULL;
	if (!host || !*host || *host == '/' || strpbrk(s, " \"<>\\^`{|}") ||
	    appspec_has_control(s)) {
		fail(c, FURROW_EINVAL, "%s is not an http:// or https:// URL",
		     shown(c, v));
		return;
	}
	free(h->http);
	h->http = xstrdup(s);
	h->kind = APPSPEC_HEALTH_HTTP;
}

static void check_health_tcp(struct ctx *c, const struct value *v)
{
	const char *s = want_string(c, v, "a string \"HOST:PORT\""), *colon;
	struct appspec_health *h = &c->a->health;
	size_t hl;

	if (!s)
		return;
	colon = strrchr(s, ':');
	hl = colon ? (size_t)(colon - s) : 0;
	if (!colon || !hl || !appspec_port_number(colon + 1, strlen(colon + 1)) ||
	    (s[0] == '[' ? s[hl - 1] != ']' || hl < 3 :
	     memchr(s, ':', hl) != NULL) || appspec_has_control(s) ||
	    strchr(s, ' ')) {
		fail(c, FURROW_EINVAL, "%s is not HOST:PORT (e.g. "
		     "\"127.0.0.1:9100\", \"[::1]:9100\")", shown(c, v));
		return;
	}
	free(h->tcp);
	h->tcp = xstrdup(s);
	h->kind = APPSPEC_HEALTH_TCP;
}

static void check_health_exec(struct ctx *c, const struct value *v)
{
	check_argv(c, v, &c->a->health.exec);
	if (c->a->health.exec.argc)
		c->a->health.kind = APPSPEC_HEALTH_EXEC;
}

static void check_health_status(struct ctx *c, const struct value *v)
{
	long long n;

	c->health_expect_status = v;
	if (!want_int(c, v, 100, 599, &n))
		c->a->health.expect_status = (int)n;
}

static void check_health_body(struct ctx *c, const struct value *v)
{
	const char *s = want_string(c, v, "a string");

	c->health_body = v;
	if (s)
		c->a->health.body = xstrdup(s);
}

static void check_health_interval(struct ctx *c, const struct value *v)
{
	want_seconds(c, v, &c->a->health.interval, 0);
}

static void check_health_timeout(struct ctx *c, const struct value *v)
{
	want_seconds(c, v, &c->a->health.timeout, 0);
}

static void check_health_settle(struct ctx *c, const struct value *v)
{
	want_seconds(c, v, &c->a->health.settle, 1);
}

static void check_health_retries(struct ctx *c, const struct value *v)
{
	long long n;

	if (!want_int(c, v, 0, LIMIT_APP_RETRIES, &n))
		c->a->health.retries = (int)n;
}

static const struct field health_fields[] = {
	{ "http", KALL, 0, check_health_http },
	{ "tcp", KALL, 0, check_health_tcp },
	{ "exec", KALL, 0, check_health_exec },
	{ "expect_status", KALL, 0, check_health_status },
	{ "body", KALL, 0, check_health_body },
	{ "interval", KALL, 0, check_health_interval },
	{ "timeout", KALL, 0, check_health_timeout },
	{ "retries", KALL, 0, check_health_retries },
	{ "settle", KALL, 0, check_health_settle },
};

static void check_health(struct ctx *c, const struct value *v)
{
	int probes;

	if (want_map(c, v, MAX_FIELDS, "fields") < 0)
		return;
	walk(c, health_fields, sizeof(health_fields) / sizeof(*health_fields),
	     v);
	probes = !!value_get(v, "http") + !!value_get(v, "tcp") +
		 !!value_get(v, "exec");
	if (probes != 1)
		fail(c, FURROW_EINVAL, "give exactly one of http, tcp or exec "
		     "(%d given)", probes);
	if (!value_get(v, "http")) {
		size_t old;

		if (c->health_expect_status) {
			old = push_key(c, "expect_status", 13);
			fail(c, FURROW_EINVAL, "only for an http check");
			pop(c, old);
		}
		if (c->health_body) {
			old = push_key(c, "body", 4);
			fail(c, FURROW_EINVAL, "only for an http check");
			pop(c, old);
		}
	}
}

static void check_strategy(struct ctx *c, const struct value *v)
{
	const char *s = want_string(c, v, "a string");

	if (!s)
		return;
	if (!strcmp(s, "start-first"))
		c->a->strategy = APPSPEC_START_FIRST;
	else if (!strcmp(s, "stop-first"))
		c->a->strategy = APPSPEC_STOP_FIRST;
	else
		fail(c, FURROW_EINVAL, "expected \"start-first\" or "
		     "\"stop-first\", got %s", shown(c, v));
}

static void check_depends_on(struct ctx *c, const struct value *v)
{
	struct appspec *a = c->a;
	long n = want_list(c, v, LIMIT_APP_DEPENDS, "LIMIT_APP_DEPENDS", 0);

	if (n < 0)
		return;
	a->depends_on = xcalloc((size_t)n + 1, sizeof(*a->depends_on));
	for (long i = 0; i < n; i++) {
		const struct value *e = &v->u.table.entries[i].val;
		size_t old = push_index(c, (size_t)i), j;
		const char *s = want_string(c, e, "a string (an app name)");

		if (!s)
			goto next;
		if (!appspec_is_app_name(s, strlen(s))) {
			fail(c, FURROW_EINVAL, "%s is not an app name",
			     shown(c, e));
			goto next;
		}
		if (!strcmp(s, a->name)) {
			fail(c, FURROW_EINVAL, "an app cannot depend on itself");
			goto next;
		}
		for (j = 0; j < a->depends_count; j++)
			if (!strcmp(a->depends_on[j], s))
				break;
		if (j < a->depends_count)
			fail(c, FURROW_EINVAL, "%s is listed twice", shown(c, e));
		else
			a->depends_on[a->depends_count++] = xstrdup(s);
next:
		pop(c, old);
	}
}

static void check_backup_paths(struct ctx *c, const struct value *v)
{
	struct appspec_backup *b = &c->a->backup;
	long n = want_list(c, v, LIMIT_APP_BACKUP_PATHS,
			   "LIMIT_APP_BACKUP_PATHS", 1);

	if (n < 0)
		return;
	b->paths = xcalloc((size_t)n + 1, sizeof(*b->paths));
	for (long i = 0; i < n; i++) {
		const struct value *e = &v->u.table.entries[i].val;
		size_t old = push_index(c, (size_t)i);
		const char *s = want_string(c, e, "a string (a data name)");

		if (s && !check_repo_path(c, s, NULL))
			b->paths[b->path_count++] = xstrdup(s);
		pop(c, old);
	}
}

static void check_backup_every(struct ctx *c, const struct value *v)
{
	const char *s = want_string(c, v, "a duration such as \"6h\"");

	if (s && appspec_parse_duration(s, &c->a->backup.every))
		fail(c, FURROW_EINVAL, "expected a duration such as \"30m\", "
		     "\"6h\", \"1d\" or \"1h30m\" (at most 366d), got %s",
		     shown(c, v));
}

static void want_backup_duration(struct ctx *c, const struct value *v,
				 long long *out)
{
	const char *s = want_string(c, v, "a duration such as \"6h\"");

	if (s && appspec_parse_duration(s, out))
		fail(c, FURROW_EINVAL, "expected a duration such as \"30m\", "
		     "\"6h\", \"1d\" or \"1h30m\" (at most 366d), got %s",
		     shown(c, v));
}

static void check_backup_keep(struct ctx *c, const struct value *v)
{
	long long n;

	if (!want_int(c, v, 1, LIMIT_APP_BACKUP_KEEP, &n))
		c->a->backup.keep = (int)n;
}

static void check_backup_keep_daily(struct ctx *c, const struct value *v)
{
	long long n;

	if (!want_int(c, v, 0, LIMIT_APP_BACKUP_KEEP, &n))
		c->a->backup.keep_daily = (int)n;
}

static void check_backup_keep_weekly(struct ctx *c, const struct value *v)
{
	long long n;

	if (!want_int(c, v, 0, LIMIT_APP_BACKUP_KEEP, &n))
		c->a->backup.keep_weekly = (int)n;
}

static void check_backup_rpo(struct ctx *c, const struct value *v)
{
	want_backup_duration(c, v, &c->a->backup.rpo);
}

static void check_backup_rto(struct ctx *c, const struct value *v)
{
	want_backup_duration(c, v, &c->a->backup.rto);
}

static void check_backup_drill_every(struct ctx *c, const struct value *v)
{
	want_backup_duration(c, v, &c->a->backup.drill_every);
}

static void check_backup_pre(struct ctx *c, const struct value *v)
{
	check_argv(c, v, &c->a->backup.pre);
}

static void check_backup_stop(struct ctx *c, const struct value *v)
{
	want_bool(c, v, &c->a->backup.stop);
}

static void check_backup_snapshot(struct ctx *c, const struct value *v)
{
	want_bool(c, v, &c->a->backup.snapshot_before_update);
}

static const struct field backup_fields[] = {
	{ "paths", KALL, KALL, check_backup_paths },
	{ "every", KALL, 0, check_backup_every },
	{ "keep", KALL, 0, check_backup_keep },
	{ "keep_daily", KALL, 0, check_backup_keep_daily },
	{ "keep_weekly", KALL, 0, check_backup_keep_weekly },
	{ "rpo", KALL, 0, check_backup_rpo },
	{ "rto", KALL, 0, check_backup_rto },
	{ "drill_every", KALL, 0, check_backup_drill_every },
	{ "pre", KALL, 0, check_backup_pre },
	{ "stop", KALL, 0, check_backup_stop },
	{ "snapshot_before_update", KALL, 0, check_backup_snapshot },
};

static void check_backup(struct ctx *c, const struct value *v)
{
	if (want_map(c, v, MAX_FIELDS, "fields") < 0)
		return;
	c->a->backup.enabled = 1;
	walk(c, backup_fields, sizeof(backup_fields) / sizeof(*backup_fields),
	     v);
}

static const struct field app_fields[] = {
	{ "kind", KALL, 0, check_kind },
	{ "image", KC, KC, check_image },
	{ "ports", KC, 0, check_ports },
	{ "privileged", KC, 0, check_privileged },
	{ "network", KC, 0, check_network },
	{ "read_only", KC, 0, check_read_only },
	{ "files", KS | KD | KF, KS | KD | KF, check_files },
	{ "unit", KD, KD, check_unit },
	{ "target", KF, KF, check_target },
	{ "exec", KC | KS, KS, check_exec },
	{ "user", KC | KS, 0, check_user },
	{ "env", KC | KS, 0, check_env },
	{ "limits", KC | KS, 0, check_limits },
	{ "volumes", KC, 0, check_volumes },
	{ "data", KS | KD, 0, check_data },
	{ "health", KALL, 0, check_health },
	{ "strategy", KALL, 0, check_strategy },
	{ "depends_on", KALL, 0, check_depends_on },
	{ "on", KALL, 0, check_on },
	{ "backup", KC | KS | KD, 0, check_backup },
	{ "secrets", KALL, 0, check_secrets },
	{ "purge", KALL, 0, check_purge },
};

/* Rules between fields of one app, once every field has been read. */
static void check_cross(struct ctx *c)
{
	struct appspec *a = c->a;
	size_t old;

	/* Only `files` is installed into a slot: the unit must be in it. */
	if (a->kind == APPSPEC_SYSTEMD && a->unit && a->files) {
		size_t n = strlen(a->files);

		if (strncmp(a->unit, a->files, n) || a->unit[n] != '/') {
			old = push_key(c, "unit", 4);
			fail(c, FURROW_EINVAL, "'%.200s' is not inside files "
			     "('%.200s'): only the files directory is "
			     "installed into a slot", a->unit, a->files);
			pop(c, old);
		}
	}
	if (!a->backup.enabled)
		return;
	/* Backups copy data directories, the only state furrow keeps
	 * across slots: each path starts with a declared data name. */
	old = push_key(c, "backup", 6);
	push_key(c, "paths", 5);
	for (size_t i = 0; i < a->backup.path_count; i++) {
		const char *p = a->backup.paths[i];
		size_t len = strcspn(p, "/"), j, o = push_index(c, i);

		for (j = 0; j < a->volume_count; j++)
			if (strlen(a->volumes[j].name) == len &&
			    !memcmp(a->volumes[j].name, p, len))
				break;
		if (j == a->volume_count)
			fail(c, FURROW_EINVAL, "'%.*s' is not a data directory of "
			     "this app (declare it in %s)", (int)(len > 63 ? 63 :
			     len), p, a->kind == APPSPEC_CONTAINER ? "volumes" :
			     "data");
		pop(c, o);
	}
	pop(c, old);
}

static void set_defaults(struct appspec *a)
{
	a->health.expect_status = 200;
	a->health.interval = 5;
	a->health.timeout = 2;
	a->health.retries = 3;
	a->health.settle = 10;
	a->backup.every = 86400;
	a->backup.keep = 7;
}

int appspec_parse_into(struct appspec **out, struct appspec_report *rep,
		       const char *file, int line, const char *name,
		       const struct value *spec)
{
	struct ctx c;
	int before = rep->count;

	*out = NULL;
	memset(&c, 0, sizeof(c));
	c.file = file;
	c.line = line;
	c.rep = rep;
	c.a = xcalloc(1, sizeof(*c.a));
	c.a->name = xstrdup(name);
	c.a->line = line;
	strbuf_init(&c.path, 0);
	strbuf_init(&c.scratch, 0);
	set_defaults(c.a);

	if (!spec || spec->type != VALUE_TABLE) {
		fail(&c, FURROW_EINVAL, "the spec must be a table");
		goto out;
	}
	read_kind(&c, spec);
	walk(&c, app_fields, sizeof(app_fields) / sizeof(*app_fields), spec);
	if (rep->count == before)
		check_cross(&c);
out:
	strbuf_release(&c.path);
	strbuf_release(&c.scratch);
	if (rep->count != before) {
		appspec_free(c.a);
		return rep->first_code ? rep->first_code : FURROW_EINVAL;
	}
	*out = c.a;
	return 0;
}

int appspec_parse(struct appspec **out, const char *file, int line,
		  const char *name, const struct value *spec)
{
	struct appspec_report rep;
	int ret;

	appspec_report_init(&rep);
	ret = appspec_parse_into(out, &rep, file, line, name, spec);
	if (ret)
		ret = appspec_report_finish(&rep, file);
	appspec_report_release(&rep);
	return ret;
}

static void argv_free(struct appspec_argv *v)
{
	for (size_t i = 0; i < v->argc; i++)
		free(v->argv[i]);
	free(v->argv);
}

static void pairs_free(struct appspec_pair *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(p[i].key);
		free(p[i].value);
	}
	free(p);
}

void appspec_free(struct appspec *a)
{
	if (!a)
		return;
	free(a->name);
	free(a->image);
	free(a->image_digest);
	for (size_t i = 0; i < a->port_count; i++)
		free(a->ports[i].host_ip);
	free(a->ports);
	free(a->files);
	free(a->unit);
	free(a->target);
	argv_free(&a->exec);
	free(a->user);
	pairs_free(a->env, a->env_count);
	for (size_t i = 0; i < a->volume_count; i++) {
		free(a->volumes[i].name);
		free(a->volumes[i].path);
	}
	free(a->volumes);
	free(a->health.http);
	free(a->health.tcp);
	argv_free(&a->health.exec);
	free(a->health.body);
	for (size_t i = 0; i < a->depends_count; i++)
		free(a->depends_on[i]);
	free(a->depends_on);
	pairs_free(a->on, a->on_count);
	for (size_t i = 0; i < a->backup.path_count; i++)
		free(a->backup.paths[i]);
	free(a->backup.paths);
	argv_free(&a->backup.pre);
	pairs_free(a->secrets, a->secret_count);
	free(a);
}
