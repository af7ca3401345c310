/*
 * desired.c - evaluate furrow.lua and summarise it (see desired.h).
 *
 * The DSL itself is lua/desired.lua; this file runs it with the user's
 * file in the isolated sandbox and reads back the plain value tree its
 * finish() returns.  That tree comes out of a child that ran untrusted
 * code, so it is checked again here (names, counts, types) rather than
 * trusted because our prelude built it.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "bug.h"
#include "appname.h"
#include "desired.h"
#include "embedded.h"
#include "error.h"
#include "limits.h"
#include "repopath.h"
#include "sandbox.h"
#include "banned.h"

#define PRELUDE_FILE "desired.lua"
#define STD_PREFIX "std:"
#define STD_NAME_MAX 64

const char *desired_prelude(size_t *len)
{
	const char *p = embedded_get(PRELUDE_FILE, len);

	if (!p)
		BUG("built-in %s is missing", PRELUDE_FILE);
	return p;
}

int desired_policy_is_repo_file(const struct desired_policy *p)
{
	return strncmp(p->name, STD_PREFIX, strlen(STD_PREFIX)) != 0;
}

void desired_summary_free(struct desired_summary *sum)
{
	size_t i;

	if (!sum)
		return;
	for (i = 0; i < sum->policy_count; i++) {
		free(sum->policies[i].name);
		value_free(sum->policies[i].options);
	}
	free(sum->policies);
	for (i = 0; i < sum->app_count; i++) {
		free(sum->app_names[i]);
		free(sum->app_files[i]);
		value_free(sum->app_specs[i]);
	}
	free(sum->app_names);
	free(sum->app_files);
	free(sum->app_lines);
	free(sum->app_specs);
	free(sum);
}

/* A string value without NULs (names are C strings from here on). */
static const char *c_string(const struct value *v)
{
	if (!v || v->type != VALUE_STRING ||
	    strlen(v->u.string.ptr) != v->u.string.len)
		return NULL;
	return v->u.string.ptr;
}

/*
 * Does s match [first][first or punct]* with 1 to max bytes, where first
 * is a-z, 0-9 and (if upper) A-Z?  Spelled out so no locale applies.
 */
static int is_name(const char *s, size_t max, int upper, const char *punct)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			    (upper && c >= 'A' && c <= 'Z');

		if (!alnum && (i == 0 || !strchr(punct, c)))
			return 0;
	}
	return 1;
}


/*
 * Check a policy name (the prelude has, with the line; this is the
 * boundary check): std:NAME, or a repo path that repopath_check() accepts
 * and that ends in ".lua" after a non-empty base name.
 */
static int check_policy_name(const char *file, const char *name)
{
	size_t n = strlen(name), base;
	int ret;

	if (!strncmp(name, STD_PREFIX, strlen(STD_PREFIX))) {
		if (!is_name(name + strlen(STD_PREFIX), STD_NAME_MAX, 0, "_-"))
			return error_set(FURROW_EINVAL, "%s: policy \"%.80s\": a "
					 "standard policy name is std: followed "
					 "by [a-z0-9][a-z0-9_-]*", file, name);
		return 0;
	}
	if ((ret = repopath_check(name)))
		return error_prefix(ret, "%s: policy", file);
	base = strrchr(name, '/') ? strlen(strrchr(name, '/') + 1) : n;
	if (n < 4 || strcmp(name + n - 4, ".lua") || base <= 4)
		return error_set(FURROW_EINVAL, "%s: policy \"%.80s\" must name "
				 "a .lua file", file, name);
	return 0;
}

/* value_get() for a tree we may change: the value under string key. */
static struct value *field(struct value *t, const char *key)
{
	if (!t || t->type != VALUE_TABLE)
		return NULL;
	for (size_t i = 0; i < t->u.table.count; i++) {
		struct value_entry *e = &t->u.table.entries[i];

		if (e->key.type == VALUE_STRING && !strcmp(e->key.u.string.ptr, key))
			return &e->val;
	}
	return NULL;
}

/* Move the value under string key out of table t; NULL if absent. */
static struct value *take(struct value *t, const char *key)
{
	struct value *slot = field(t, key), *v;

	if (!slot)
		return NULL;
	v = value_new(VALUE_NIL);
	*v = *slot;
	memset(slot, 0, sizeof(*slot)); /* VALUE_NIL: nothing left to free */
	return v;
}

static int malformed(const char *file, const char *what)
{
	return error_set(FURROW_ERR, "%s: the desired-state prelude returned "
			 "a malformed result (%s)", file, what);
}

static int read_serial(struct desired_summary *sum, const char *file,
		       const struct value *root)
{
	const struct value *v = value_get(root, "serial");

	if (!v || v->type == VALUE_NIL)
		return 0;
	if (v->type != VALUE_INTEGER || v->u.integer < 0)
		return error_set(FURROW_EINVAL, "%s: serial must be a "
				 "non-negative integer", file);
	sum->has_serial = 1;
	sum->serial = v->u.integer;
	return 0;
}

static int read_policies(struct desired_summary *sum, const char *file,
			 struct value *list)
{
	size_t n;
	int ret;

	if (!list || !value_is_array(list))
		return malformed(file, "policies is not a list");
	n = list->u.table.count;
	if (n > LIMIT_DESIRED_POLICIES)
		return error_set(FURROW_ELIMIT, "%s: %zu policies declared, more "
				 "than the limit of %d", file, n,
				 LIMIT_DESIRED_POLICIES);
	sum->policies = xcalloc(n + 1, sizeof(*sum->policies));
	for (size_t i = 0; i < n; i++) {
		struct value *rec = &list->u.table.entries[i].val;
		struct desired_policy *p = &sum->policies[i];
		const char *name = c_string(value_get(rec, "name"));

		if (!name)
			return malformed(file, "a policy without a name");
		if ((ret = check_policy_name(file, name)))
			return ret;
		p->name = xstrdup(name);
		sum->policy_count++;
		p->options = take(rec, "options");
		if (!p->options || p->options->type != VALUE_TABLE)
			return malformed(file, "policy options are not a table");
	}
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The prelude refuses a second app of one name, with its line; this is
 * the boundary check, sorted so that 10000 apps stay cheap. */
static int check_unique(const char *file, char *const *names, size_t n)
{
	char **sorted;
	int ret = 0;

	if (n < 2)
		return 0;
	sorted = xmallocarray(n, sizeof(*sorted));
	memcpy(sorted, names, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), cmp_str);
	for (size_t i = 1; i < n && !ret; i++)
		if (!strcmp(sorted[i - 1], sorted[i]))
			ret = error_set(FURROW_EINVAL, "%s: app '%s' declared "
					"twice", file, sorted[i]);
	free(sorted);
	return ret;
}

static int read_apps(struct desired_summary *sum, const char *file,
		     struct value *list)
{
	size_t n;

	if (!list || !value_is_array(list))
		return malformed(file, "apps is not a list");
	n = list->u.table.count;
	if (n > LIMIT_DESIRED_APPS)
		return error_set(FURROW_ELIMIT, "%s: %zu apps declared, more than "
				 "the limit of %d", file, n, LIMIT_DESIRED_APPS);
	sum->app_names = xcalloc(n + 1, sizeof(*sum->app_names));
	sum->app_files = xcalloc(n + 1, sizeof(*sum->app_files));
	sum->app_lines = xcalloc(n + 1, sizeof(*sum->app_lines));
	sum->app_specs = xcalloc(n + 1, sizeof(*sum->app_specs));
	for (size_t i = 0; i < n; i++) {
		struct value *rec = &list->u.table.entries[i].val;
		const struct value *spec = value_get(rec, "spec");
		const struct value *line = value_get(rec, "line");
		const char *name = c_string(value_get(rec, "name"));
		const char *from = c_string(value_get(rec, "file"));

		if (!name || !app_name_valid(name))
			return malformed(file, "an app without a valid name");
		if (!spec || spec->type != VALUE_TABLE)
			return malformed(file, "an app spec is not a table");
		/* A line only labels messages; one out of range is dropped
		 * rather than trusted. */
		if (line && line->type == VALUE_INTEGER && line->u.integer > 0 &&
		    line->u.integer <= INT_MAX)
			sum->app_lines[sum->app_count] = (int)line->u.integer;
		/* Likewise a file that is neither this one nor a path
		 * an include could have named. */
		if (!from || (strcmp(from, file) && repopath_check(from))) {
			error_clear();
			from = file;
		}
		sum->app_files[sum->app_count] = xstrdup(from);
		sum->app_specs[sum->app_count] = take(rec, "spec");
		sum->app_names[sum->app_count++] = xstrdup(name);
	}
	return check_unique(file, sum->app_names, sum->app_count);
}

void desired_summary_format(struct strbuf *sb,
			    const struct desired_summary *sum)
{
	if (sum->has_serial)
		strbuf_addf(sb, "serial %lld\n", sum->serial);
	else
		strbuf_addstr(sb, "serial none\n");
	for (size_t i = 0; i < sum->policy_count; i++) {
		strbuf_addf(sb, "policy %s ", sum->policies[i].name);
		value_to_json(sb, sum->policies[i].options, 0);
		strbuf_addch(sb, '\n');
	}
	for (size_t i = 0; i < sum->app_count; i++)
		strbuf_addf(sb, "app %s\n", sum->app_names[i]);
}

int desired_summary_from_value(struct desired_summary **out,
			       const char *name, struct value *root)
{
	struct desired_summary *sum = NULL;
	int ret;

	*out = NULL;
	if (root->type != VALUE_TABLE)
		return malformed(name, "not a table");
	sum = xcalloc(1, sizeof(*sum));
	if ((ret = read_serial(sum, name, root)) ||
	    (ret = read_policies(sum, name, field(root, "policies"))) ||
	    (ret = read_apps(sum, name, field(root, "apps")))) {
		desired_summary_free(sum);
		return ret;
	}
	*out = sum;
	return 0;
}

/* Check the files offered for include against the limits and path rules
 * before any of them is copied into Lua. */
static int check_files(const char *name, const struct value *files)
{
	size_t total = 0, n;
	int ret;

	if (!files)
		return 0;
	if (files->type != VALUE_TABLE)
		return malformed(name, "the files to include are not a table");
	n = files->u.table.count;
	if (n > LIMIT_DESIRED_INCLUDE_FILES)
		return error_set(FURROW_ELIMIT, "%s: %zu .lua files in the tree "
				 "to include from, more than the limit of %d",
				 name, n, LIMIT_DESIRED_INCLUDE_FILES);
	for (size_t i = 0; i < n; i++) {
		const struct value_entry *e = &files->u.table.entries[i];
		const char *path = c_string(&e->key);

		if (!path || e->val.type != VALUE_STRING)
			return malformed(name, "a file to include is not a path "
					 "and a text");
		if ((ret = repopath_check(path)))
			return error_prefix(ret, "%s: file to include", name);
		if (e->val.u.string.len > LIMIT_DESIRED_FILE_BYTES)
			return error_set(FURROW_ELIMIT, "%s: %zu bytes, more than "
					 "the limit of %u", path,
					 e->val.u.string.len,
					 LIMIT_DESIRED_FILE_BYTES);
		total += e->val.u.string.len;
		if (total > LIMIT_DESIRED_INCLUDE_BYTES)
			return error_set(FURROW_ELIMIT, "%s: the .lua files of the "
					 "tree to include from are more than the "
					 "limit of %u bytes in all", name,
					 LIMIT_DESIRED_INCLUDE_BYTES);
	}
	return 0;
}

int desired_summary_load(struct desired_summary **out, const char *name,
			 const char *src, size_t len)
{
	return desired_summary_load_tree(out, name, src, len, NULL);
}

int desired_summary_load_tree(struct desired_summary **out, const char *name,
			      const char *src, size_t len,
			      const struct value *files)
{
	static const struct sandbox_limits limits = {
		LIMIT_DESIRED_MEMORY_BYTES, LIMIT_DESIRED_INSTRUCTIONS,
		LIMIT_DESIRED_MILLISECONDS,
	};
	struct value *root = NULL;
	const char *prelude;
	size_t plen;
	int ret;

	*out = NULL;
	if (len > LIMIT_DESIRED_FILE_BYTES)
		return error_set(FURROW_ELIMIT, "%s: %zu bytes, more than the "
				 "limit of %u", name, len,
				 LIMIT_DESIRED_FILE_BYTES);
	if ((ret = check_files(name, files)))
		return ret;
	prelude = desired_prelude(&plen);
	ret = sandbox_eval_program_isolated(&root, DESIRED_PRELUDE_NAME,
					    prelude, plen, name, src, len,
					    files, &limits);
	if (!ret)
		ret = desired_summary_from_value(out, name, root);
	value_free(root);
	return ret;
}
