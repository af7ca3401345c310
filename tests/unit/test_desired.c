/*
 * test_desired.c - core/desired.c and lua/desired.lua: what furrow.lua
 * declares, the errors a user sees (with their lines), the limits, and
 * attempts by furrow.lua to reach or break the prelude's own state.
 * Also sandbox_eval_program() itself, with small preludes of our own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "desired.h"
#include "embedded.h"
#include "error.h"
#include "limits.h"
#include "sandbox.h"
#include "strbuf.h"
#include "tap.h"
#include "value.h"

#define FILE_NAME "furrow.lua"

static const char example[] =
	"serial = 7\n"
	"policy \"std:require-digest\"\n"
	"policy \"policies/site-window.lua\" { windows = { \"Sat 01:00-05:00\" } }\n"
	"app \"web\" { kind = \"container\", image = \"registry.local/web@sha256:"
	"0123\", on = { role = \"gateway\" } }\n"
	"app \"sensor\" { kind = \"service\", files = \"services/sensor\", "
	"exec = { \"bin/sensor\" } }\n";

static int load(struct desired_summary **sum, const char *src)
{
	error_clear();
	return desired_summary_load(sum, FILE_NAME, src, strlen(src));
}

/* src must load; returns the summary (caller frees) or NULL. */
static struct desired_summary *loads(const char *src, const char *name)
{
	struct desired_summary *sum = NULL;
	int rc = load(&sum, src);

	ok(rc == 0 && sum, "%s: loads", name);
	if (rc)
		tap_diag("rc=%d (%s): %s", rc, error_name(rc), error_message());
	return rc ? NULL : sum;
}

/* src must fail with code and a message containing substr. */
static void fails(const char *src, int code, const char *substr,
		  const char *name)
{
	struct desired_summary *sum = (struct desired_summary *)1;
	int rc = load(&sum, src);

	ok(rc == code && strstr(error_message(), substr) && sum == NULL,
	   "%s -> %s", name, error_name(code));
	if (rc != code || !strstr(error_message(), substr))
		tap_diag("rc=%d (%s) message: %s; want substring \"%s\"", rc,
			 error_name(rc), error_message(), substr);
	if (!rc)
		desired_summary_free(sum);
}


static void test_example(void)
{
	struct desired_summary *s = loads(example, "the DESIGN.md example");
	struct strbuf sb = STRBUF_INIT;

	if (!s)
		return;
	ok(s->has_serial && s->serial == 7, "serial 7");
	is_int(s->policy_count, 2, "two policies");
	is_str(s->policies[0].name, "std:require-digest", "first policy name");
	ok(s->policies[0].options->type == VALUE_TABLE &&
	   s->policies[0].options->u.table.count == 0,
	   "a policy without options has an empty options table");
	ok(!desired_policy_is_repo_file(&s->policies[0]),
	   "std: policy is not a repo file");
	is_str(s->policies[1].name, "policies/site-window.lua",
	       "second policy name");
	ok(desired_policy_is_repo_file(&s->policies[1]),
	   "policies/site-window.lua is a repo file");
	value_to_json(&sb, s->policies[1].options, 0);
	is_str(sb.buf, "{\"windows\":[\"Sat 01:00-05:00\"]}",
	       "second policy's options");
	is_int(s->app_count, 2, "two apps");
	is_str(s->app_names[0], "web", "first app in declaration order");
	is_str(s->app_names[1], "sensor", "second app in declaration order");
	strbuf_reset(&sb);
	desired_summary_format(&sb, s);
	is_str(sb.buf, "serial 7\n"
	       "policy std:require-digest {}\n"
	       "policy policies/site-window.lua "
	       "{\"windows\":[\"Sat 01:00-05:00\"]}\n"
	       "app web\napp sensor\n", "desired_summary_format()");
	strbuf_release(&sb);
	desired_summary_free(s);
}

static void test_serial(void)
{
	struct desired_summary *s;

	s = loads("app \"a\" {}\n", "no serial");
	if (s) {
		ok(!s->has_serial, "no serial: has_serial is 0");
		is_int(s->policy_count, 0, "no policies");
		is_int(s->app_count, 1, "one app");
	}
	desired_summary_free(s);

	s = loads("", "an empty file");
	ok(s && !s->has_serial && !s->policy_count && !s->app_count,
	   "an empty file declares nothing");
	desired_summary_free(s);

	s = loads("serial = 0", "serial 0");
	ok(s && s->has_serial && s->serial == 0, "serial 0 is a serial");
	desired_summary_free(s);

	s = loads("serial = math.maxinteger", "largest serial");
	ok(s && s->has_serial && s->serial == 0x7fffffffffffffffLL,
	   "math.maxinteger is a serial");
	desired_summary_free(s);

	s = loads("serial = 3\nserial = serial + 1\n", "serial read back");
	ok(s && s->has_serial && s->serial == 4,
	   "serial can be read back and set again");
	desired_summary_free(s);

	s = loads("serial = 3\nserial = nil\n", "serial unset");
	ok(s && !s->has_serial, "serial set back to nil is no serial");
	desired_summary_free(s);

	fails("\nserial = -1\n", FURROW_EINVAL,
	      "furrow.lua:2: serial must be a non-negative integer (got -1)",
	      "serial = -1, with its line");
	fails("serial = 1.5\n", FURROW_EINVAL,
	      "furrow.lua:1: serial must be a non-negative integer (got 1.5)",
	      "serial = 1.5");
	fails("-- comment\n\nserial = \"7\"\n", FURROW_EINVAL,
	      "furrow.lua:3: serial must be a non-negative integer "
	      "(got the string '7')", "serial = \"7\"");
	fails("serial = 7.0", FURROW_EINVAL, "(got 7.0)",
	      "serial = 7.0 is a float, not an integer");
	fails("serial = {}", FURROW_EINVAL, "(got table)", "serial = {}");
	fails("rawset(_ENV, 'serial', -3)", FURROW_EINVAL,
	      "furrow.lua: serial must be a non-negative integer",
	      "serial set with rawset is checked too");
	fails("local ok = pcall(function() serial = -1 end)\n"
	      "assert(not ok)\nserial = 'x'\n", FURROW_EINVAL,
	      "furrow.lua:3: serial", "a caught bad serial leaves no value");
	s = loads("pcall(function() serial = -1 end)\n", "caught bad serial");
	ok(s && !s->has_serial, "a bad serial caught by pcall is not kept");
	desired_summary_free(s);
}

static void test_apps(void)
{
	static const char *const bad_names[] = {
		"\"\"", "\"-web\"", "\".web\"", "\"_web\"", "\"a/b\"",
		"\"a b\"", "\"web\\n\"", "\"w\\0\"", "\"caf\\u{e9}\"",
		"\"../x\"", "string.rep('a', 64)",
	};
	struct desired_summary *s;
	char src[256], name[128];

	fails("app \"web\" {}\napp \"web\" {}\n", FURROW_EINVAL,
	      "furrow.lua:2: app 'web' declared twice (first at furrow.lua:1)",
	      "app declared twice");
	fails("app \"web\" {}\npcall(app, \"web\")\napp \"db\" {}\n"
	      "app \"web\" { kind = 'x' }\n", FURROW_EINVAL,
	      "furrow.lua:4: app 'web' declared twice",
	      "a caught duplicate stays a duplicate");
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(*bad_names); i++) {
		snprintf(src, sizeof(src), "\n\napp(%s) {}\n", bad_names[i]);
		snprintf(name, sizeof(name), "bad app name %s", bad_names[i]);
		fails(src, FURROW_EINVAL, "furrow.lua:3: app name ", name);
	}
	fails("app(42) {}", FURROW_EINVAL,
	      "furrow.lua:1: app name must be a string, got number",
	      "app name that is a number");
	fails("app() {}", FURROW_EINVAL, "app name must be a string, got nil",
	      "app without a name");
	fails("app \"web\"\n", FURROW_EINVAL,
	      "furrow.lua:1: app 'web' has no spec", "app without a spec");
	fails("app \"web\" \"x\"\n", FURROW_EINVAL,
	      "furrow.lua:1: app 'web': spec must be one table",
	      "app spec that is a string");
	fails("local f = app \"web\"\nf {}\nf {}\n", FURROW_EINVAL,
	      "furrow.lua:3: app 'web' already has a spec",
	      "an app's spec given twice");
	fails("app \"web\" { run = function() end }", FURROW_EINVAL,
	      "apps[1].spec.run: a function cannot be part of the result",
	      "a function in a spec names its place");

	s = loads("app(string.rep('a', 63)) {}\napp 'a.b_c-9' {}\n"
		  "app '0' {}\n", "edge-case app names");
	if (s) {
		is_int(s->app_count, 3, "63-character, dotted and one-digit "
		       "names are fine");
		is_int(strlen(s->app_names[0]), 63, "63 characters kept");
	}
	desired_summary_free(s);
	fails("app 'Web' {}\n", FURROW_EINVAL, "app name 'Web' is invalid: "
	      "1 to 63 of a-z 0-9", "an upper-case app name");

	s = loads("local spec = { kind = 'service' }\n"
		  "app 'a' (spec)\napp 'b' (spec)\n", "one spec table twice");
	ok(s && s->app_count == 2, "two apps may share a spec table");
	desired_summary_free(s);
}

static void test_policies(void)
{
	static const char *const bad[] = {
		"../x.lua", "policies/../x.lua", "/etc/x.lua", "policies/x.txt",
		"policies/x", "policies//x.lua", "./x.lua", "policies/.lua",
		"a\\\\b.lua", "std:", "std:Bad", "std:-x", "std:a/b", "",
	};
	struct desired_summary *s;
	char src[256], name[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		snprintf(src, sizeof(src), "serial = 1\npolicy \"%s\"\n", bad[i]);
		snprintf(name, sizeof(name), "policy name \"%s\" refused", bad[i]);
		fails(src, FURROW_EINVAL, "furrow.lua:2: policy ", name);
	}
	fails("policy \"../up.lua\"", FURROW_EINVAL,
	      "'../up.lua': must not contain empty, '.' or '..' components",
	      "'..' is named in the message");
	fails("policy \"/abs.lua\"", FURROW_EINVAL,
	      "must be a relative path", "absolute path named as such");
	fails("policy(7)", FURROW_EINVAL,
	      "furrow.lua:1: policy name must be a string, got number",
	      "policy name that is a number");
	fails("policy \"std:x\" (5)", FURROW_EINVAL,
	      "furrow.lua:1: policy 'std:x': options must be one table",
	      "policy options that are not a table");
	fails("local p = policy \"std:x\"\np {}\np {}\n", FURROW_EINVAL,
	      "furrow.lua:3: policy 'std:x' already has options",
	      "options given twice");

	s = loads("policy \"std:freeze\"\npolicy \"std:freeze\" { a = 1 }\n"
		  "policy \"p/q/r.lua\"\n", "std names and nested paths");
	if (s) {
		is_int(s->policy_count, 3, "a policy may be declared twice "
		       "(e.g. with other options)");
		is_str(s->policies[2].name, "p/q/r.lua", "nested policy path");
	}
	desired_summary_free(s);

	fails("include \"apps/web.lua\"\n", FURROW_EINVAL,
	      "furrow.lua:1: include: no file apps/web.lua in the tree",
	      "include without files");
}

static void test_isolation(void)
{
	struct desired_summary *s;

	s = loads("policy \"std:a\"\napp \"web\" {}\n"
		  "policy = nil app = nil include = nil\n"
		  "string = nil table = nil math = nil type = nil\n"
		  "pairs = nil next = nil rawget = nil error = nil\n"
		  "setmetatable = nil pcall = nil select = nil\n",
		  "the user clears DSL and library globals after use");
	ok(s && s->policy_count == 1 && s->app_count == 1,
	   "finish() does not need the user's globals");
	desired_summary_free(s);

	s = loads("chunkname = 'evil' policies = {} apps = {{name = 'x'}}\n"
		  "finish = nil env = nil app_by_name = {} serial_value = -5\n"
		  "_G = nil\napp \"web\" {}\n",
		  "the user sets globals named like the prelude's locals");
	ok(s && s->app_count == 1 && !strcmp(s->app_names[0], "web") &&
	   !s->has_serial && s->policy_count == 0,
	   "the prelude's state is not in reach of the user's globals");
	desired_summary_free(s);

	/* The library tables are shared with the prelude through the
	 * string metatable; it captured what it uses before the user ran. */
	s = loads("local S = getmetatable('').__index\n"
		  "for k in pairs(S) do S[k] = function() error('pwned') end end\n"
		  "app \"web\" {}\npolicy \"p/x.lua\"\n",
		  "the user replaces every function of the real string table");
	ok(s && s->app_count == 1 && s->policy_count == 1,
	   "the prelude keeps working with its own captured functions");
	desired_summary_free(s);
	fails("local S = getmetatable('').__index\n"
	      "for k in pairs(S) do S[k] = function() return 1 end end\n"
	      "app \"bad name\" {}\n", FURROW_EINVAL,
	      "furrow.lua:3: app name 'bad name' is invalid",
	      "app names are still checked after the string table is broken");
	fails("string.find = function() return 1 end\n"
	      "policy \"../x.lua\"\n", FURROW_EINVAL, "furrow.lua:2: policy",
	      "policy names are still checked after string.find is replaced");

	fails("setmetatable(_ENV, nil)", FURROW_EINVAL,
	      "cannot change a protected metatable",
	      "the environment's metatable cannot be removed");
	s = loads("assert(getmetatable(_ENV) == false)\n"
		  "assert(rawget(_ENV, 'finish') == nil)\n"
		  "assert(rawget(_ENV, 'serial') == nil)\n"
		  "assert(load == nil and debug == nil and os == nil "
		  "and io == nil and require == nil and print == nil)\n"
		  "assert(type(string.rep) == 'function' and utf8 and table "
		  "and math and ipairs and tostring and tonumber and rawlen "
		  "and rawequal and xpcall and assert)\n",
		  "what the environment shows");
	ok(s != NULL, "the environment holds the safe globals only, and its "
	   "metatable is hidden");
	desired_summary_free(s);

	/* Walk everything reachable from the environment (and its DSL
	 * closures' results) looking for a record to rewrite. */
	s = loads("app \"web\" { kind = 'container' }\n"
		  "local seen = {}\n"
		  "local function walk(t, d)\n"
		  "  if seen[t] or d > 4 then return end\n"
		  "  seen[t] = true\n"
		  "  if rawget(t, 'name') == 'web' then rawset(t, 'name', 'evil') end\n"
		  "  for k, v in next, t do\n"
		  "    if type(v) == 'table' then walk(v, d + 1) end\n"
		  "  end\n"
		  "end\n"
		  "walk(_ENV, 0)\n"
		  "local r = app 'db'\n"
		  "assert(type(r) == 'function')\n"
		  "r { kind = 'service' }\n"
		  "walk(_ENV, 0)\n",
		  "the user hunts for the prelude's records");
	ok(s && s->app_count == 2 && !strcmp(s->app_names[0], "web") &&
	   !strcmp(s->app_names[1], "db"),
	   "no record of the prelude is reachable from the environment");
	desired_summary_free(s);
}

static void test_limits(void)
{
	struct desired_summary *s = NULL;
	struct strbuf big = STRBUF_INIT;
	int rc;

	fails("while true do end", FURROW_ELIMIT, "furrow.lua: ",
	      "an infinite loop");
	fails("app 'x' {}\nwhile true do pcall(function() while true do end "
	      "end) end", FURROW_ELIMIT, "limit",
	      "an infinite loop inside pcall");
	fails("local t = {} for i = 1, 1e9 do t[i] = ('x'):rep(4096) .. i end",
	      FURROW_ELIMIT, "memory limit of 67108864 bytes exceeded",
	      "a memory bomb");
	fails("for i = 1, 257 do policy('std:p' .. i) end", FURROW_ELIMIT,
	      "257 policies declared, more than the limit of 256",
	      "too many policies");
	s = loads("for i = 1, 256 do policy('std:p' .. i) end",
		  "256 policies");
	desired_summary_free(s);
	fails("for i = 1, 10001 do app('a' .. i) {} end", FURROW_ELIMIT,
	      "10001 apps declared, more than the limit of 10000",
	      "too many apps");
	s = loads("for i = 1, 10000 do app('a' .. i) { kind = 'service' } end",
		  "10000 apps");
	ok(s && s->app_count == 10000 && !strcmp(s->app_names[9999], "a10000"),
	   "10000 apps, in order");
	desired_summary_free(s);

	strbuf_addstr(&big, "serial = 1\n");
	while (big.len <= LIMIT_DESIRED_FILE_BYTES)
		strbuf_addstr(&big, "-- padding padding padding padding\n");
	error_clear();
	s = (struct desired_summary *)1;
	rc = desired_summary_load(&s, FILE_NAME, big.buf, big.len);
	ok(rc == FURROW_ELIMIT && s == NULL &&
	   strstr(error_message(), "more than the limit of 1048576"),
	   "a file over LIMIT_DESIRED_FILE_BYTES is refused");
	strbuf_release(&big);

	fails("app 'x' {\n", FURROW_ESYNTAX, "furrow.lua:", "a syntax error");
	fails("\x1bLua\x54\x00", FURROW_ESYNTAX, "binary chunk",
	      "bytecode is refused");
	fails("error(setmetatable({}, {__tostring = function() "
	      "while true do end end}))", FURROW_EINVAL,
	      "(error object is a table value)",
	      "a hostile error object is reported by type");
}

static void test_deterministic(void)
{
	struct desired_summary *a = loads(example, "example, first run");
	struct desired_summary *b = loads(example, "example, second run");
	struct strbuf ta = STRBUF_INIT, tb = STRBUF_INIT;

	if (a && b) {
		desired_summary_format(&ta, a);
		desired_summary_format(&tb, b);
		ok(ta.len > 0 && !strcmp(ta.buf, tb.buf),
		   "same input twice gives the same summary");
	}
	strbuf_release(&ta);
	strbuf_release(&tb);
	desired_summary_free(a);
	desired_summary_free(b);
}

/* sandbox_eval_program() with preludes written for the test. */
static const struct sandbox_limits small = {
	LIMIT_CONFIG_MEMORY_BYTES, LIMIT_CONFIG_INSTRUCTIONS,
	LIMIT_CONFIG_MILLISECONDS,
};

static int program(struct value **v, const char *prelude, const char *src)
{
	error_clear();
	return sandbox_eval_program(v, "test-prelude.lua", prelude,
				    strlen(prelude), "user.lua", src,
				    strlen(src), NULL, &small);
}

static char *program_json(const char *prelude, const char *src)
{
	struct strbuf sb = STRBUF_INIT;
	struct value *v = NULL;

	if (program(&v, prelude, src)) {
		tap_diag("error: %s", error_message());
		return NULL;
	}
	value_to_json(&sb, v, 0);
	value_free(v);
	return strbuf_detach(&sb, NULL);
}

static void test_program(void)
{
	static const char *const env_prelude =
		"local name = ...\n"
		"local env = { seen = {} }\n"
		"return env, function() return { name = name, "
		"leak = rawget(_G, 'leak'), x = rawget(env, 'leak'), "
		"n = #env.seen } end\n";
	static const char iso_prelude[] =
		"return {}, function() return { ok = true } end";
	struct value *v = NULL;
	char *got;
	int rc;

	got = program_json(env_prelude, "leak = 1 seen[1] = 2 return 'ignored'");
	is_str(got, "{\"n\":1,\"name\":\"user.lua\",\"x\":1}",
	       "prelude gets the chunk name; user globals land in env only; "
	       "the chunk's return is ignored");
	free(got);

	rc = program(&v, env_prelude, "string.rep('x', 1)");
	ok(rc == FURROW_EINVAL &&
	   strstr(error_message(), "user.lua:1:") &&
	   strstr(error_message(), "global 'string'"),
	   "the chunk sees only env, not the sandbox's globals");
	if (rc != FURROW_EINVAL)
		tap_diag("rc=%d: %s", rc, error_message());

	rc = program(&v, "return 1, 2", "");
	ok(rc == FURROW_ERR && strstr(error_message(), "did not return an "
				      "environment and a finish function"),
	   "a prelude returning the wrong values is furrow's error");
	rc = program(&v, "error('broken')", "");
	ok(rc == FURROW_ERR && strstr(error_message(), "built-in prelude "
				      "failed: test-prelude.lua:1: broken"),
	   "a failing prelude is furrow's error");
	rc = program(&v, "return {", "");
	ok(rc == FURROW_ERR && strstr(error_message(), "test-prelude.lua:1:"),
	   "a prelude that does not compile is furrow's error");
	rc = program(&v, "while true do end", "");
	ok(rc == FURROW_ELIMIT && strstr(error_message(), "user.lua: "),
	   "the prelude runs under the same caps");
	rc = program(&v, "return {}, function() while true do end end", "");
	ok(rc == FURROW_ELIMIT && strstr(error_message(), "instruction limit"),
	   "finish() runs under the same caps");
	rc = program(&v, "return {}, function() return { f = print or "
		     "type } end", "");
	ok(rc == FURROW_EINVAL &&
	   strstr(error_message(), "user.lua: f: a function cannot be part "
		  "of the result"),
	   "finish()'s result is converted like a chunk's");
	rc = program(&v, "return { pcall = pcall }, function() return 1 end",
		     "pcall(function() while true do end end) "
		     "while true do end");
	ok(rc == FURROW_ELIMIT, "a kill in the chunk is sticky, also "
	   "through finish()");
	rc = program(&v, "return {}, function() return 1 end", "x = = 1");
	ok(rc == FURROW_ESYNTAX && strstr(error_message(), "user.lua:1:"),
	   "a chunk that does not compile is a syntax error");
	value_free(v);

	rc = sandbox_eval_program_isolated(&v, "p.lua", iso_prelude,
					   strlen(iso_prelude), "iso.lua", "", 0,
					   NULL, &small);
	ok(rc == 0 && v && value_get(v, "ok"), "sandbox_eval_program_isolated "
	   "runs the program in a child");
	if (rc)
		tap_diag("rc=%d: %s", rc, error_message());
	value_free(v);
}

/*
 * Every memory cap, however tight, ends in a result or a limit error,
 * never a Lua panic (an allocation failing outside a protected call) nor
 * another error: the sweep stops the program at each step on the way
 * (prelude, chunk, finish, conversion).
 */
static void test_tight_memory(void)
{
	struct sandbox_limits lim = { 0, LIMIT_DESIRED_INSTRUCTIONS,
				      LIMIT_DESIRED_MILLISECONDS };
	struct strbuf name = STRBUF_INIT;
	const char *prelude;
	size_t plen, cap, ok_count = 0, limit_count = 0, other = 0;

	/* A long chunk name: its copies are allocations wider than a step. */
	while (name.len < 2000)
		strbuf_addstr(&name, "a-long-directory/");
	strbuf_addstr(&name, FILE_NAME);
	prelude = desired_prelude(&plen);
	for (cap = 8 * 1024; cap <= 160 * 1024; cap += 256) {
		struct value *v = NULL;
		int rc;

		lim.memory_bytes = cap;
		rc = sandbox_eval_program(&v, DESIRED_PRELUDE_NAME, prelude,
					  plen, name.buf, example,
					  strlen(example), NULL, &lim);
		if (rc == 0)
			ok_count++;
		else if (rc == FURROW_ELIMIT)
			limit_count++;
		else
			other++;
		if (rc && rc != FURROW_ELIMIT)
			tap_diag("cap %zu: rc=%d %s", cap, rc, error_message());
		value_free(v);
	}
	strbuf_release(&name);
	ok(other == 0 && limit_count > 0 && ok_count > 0,
	   "tight memory caps: %zu limit errors, then %zu results, nothing "
	   "else", limit_count, ok_count);
}

/* Load src with files, given as path, text pairs ending in NULL. */
static int load_tree(struct desired_summary **sum, const char *src,
		     const char *const *files)
{
	struct value *t = value_new(VALUE_TABLE);
	int rc;

	for (size_t i = 0; files[i]; i += 2)
		value_set_string(value_table_add_str(t, files[i],
						     strlen(files[i])),
				 files[i + 1], strlen(files[i + 1]));
	value_sort(t);
	error_clear();
	*sum = NULL;
	rc = desired_summary_load_tree(sum, FILE_NAME, src, strlen(src), t);
	value_free(t);
	return rc;
}

static void fails_tree(const char *src, const char *const *files, int code,
		       const char *substr, const char *name)
{
	struct desired_summary *sum = NULL;
	int rc = load_tree(&sum, src, files);

	ok(rc == code && strstr(error_message(), substr) &&
	   (code ? !sum : sum != NULL), "%s -> %s", name, error_name(code));
	if (rc != code || !strstr(error_message(), substr))
		tap_diag("rc=%d (%s) message: %s; want substring \"%s\"", rc,
			 error_name(rc), error_message(), substr);
	desired_summary_free(sum);
}

static void test_include(void)
{
	static const char *const tree[] = {
		"apps/web.lua",
		"-- the web app\n"
		"app \"web\" { kind = \"container\", image = \"nginx\" }\n"
		"include \"apps/db.lua\"\n",
		"apps/db.lua",
		"\n\napp \"db\" { kind = \"container\", image = \"pg\" }\n"
		"serial = 3\n",
		"policies/p.lua", "return {}\n",
		NULL,
	};
	static const char *const cycle[] = {
		"a.lua", "include \"b.lua\"\n",
		"b.lua", "\ninclude \"a.lua\"\n",
		NULL,
	};
	static const char *const deep[] = {
		"d1.lua", "include \"d2.lua\"", "d2.lua", "include \"d3.lua\"",
		"d3.lua", "include \"d4.lua\"", "d4.lua", "include \"d5.lua\"",
		"d5.lua", "include \"d6.lua\"", "d6.lua", "include \"d7.lua\"",
		"d7.lua", "include \"d8.lua\"", "d8.lua", "include \"d9.lua\"",
		"d9.lua", "app \"x\" { kind = \"container\" }",
		NULL,
	};
	static const char *const bad[] = {
		"apps/bad.lua", "app \"x\" {\n  kind = \n", NULL,
	};
	static const char *const boom[] = {
		"apps/boom.lua", "\nerror(\"boom\")\n", NULL,
	};
	static const char *const none[] = { NULL };
	struct desired_summary *sum = NULL;
	int rc;

	rc = load_tree(&sum, "app \"first\" { kind = \"container\" }\n"
		       "include \"apps/web.lua\"\n"
		       "app \"last\" { kind = \"container\" }\n", tree);
	ok(rc == 0 && sum, "include loads");
	if (rc)
		tap_diag("%s", error_message());
	if (sum) {
		is_int((int)sum->app_count, 4, "four apps");
		ok(!strcmp(sum->app_names[1], "web") &&
		   !strcmp(sum->app_names[2], "db"), "in declaration order");
		is_str(sum->app_files[0], "furrow.lua", "first from furrow.lua");
		is_int(sum->app_lines[0], 1, "its line");
		is_str(sum->app_files[1], "apps/web.lua", "web's file");
		is_int(sum->app_lines[1], 2, "web's line there");
		is_str(sum->app_files[2], "apps/db.lua", "nested include's file");
		is_int(sum->app_lines[2], 3, "db's line there");
		is_str(sum->app_files[3], "furrow.lua", "last from furrow.lua");
		is_int(sum->app_lines[3], 3, "last's line");
		ok(sum->has_serial && sum->serial == 3,
		   "serial set in an included file");
	}
	desired_summary_free(sum);

	fails_tree("\ninclude \"apps/x.lua\"\n", tree, FURROW_EINVAL,
		   "furrow.lua:2: include: no file apps/x.lua in the tree",
		   "missing file");
	fails_tree("include \"apps/db.lua\"\ninclude \"apps/db.lua\"\n", tree,
		   FURROW_EINVAL, "furrow.lua:2: include: apps/db.lua is "
		   "already included (at furrow.lua:1)", "included twice");
	fails_tree("include \"a.lua\"\n", cycle, FURROW_EINVAL,
		   "b.lua:2: include cycle: a.lua -> b.lua -> a.lua", "cycle");
	fails_tree("include \"furrow.lua\"\n", cycle, FURROW_EINVAL,
		   "include cycle: furrow.lua -> furrow.lua", "self");
	fails_tree("include \"d1.lua\"\n", deep, FURROW_EINVAL,
		   "d8.lua:1: include d9.lua: includes nested deeper than 8",
		   "depth");
	fails_tree("include \"d2.lua\"\n", deep, 0, "", "depth 8 is fine");
	fails_tree("include \"/etc/x.lua\"\n", tree, FURROW_EINVAL,
		   "furrow.lua:1: include '/etc/x.lua': must be a relative",
		   "absolute path");
	fails_tree("include \"apps/../x.lua\"\n", tree, FURROW_EINVAL,
		   "'.' or '..' components", "dot-dot");
	fails_tree("include \"apps//web.lua\"\n", tree, FURROW_EINVAL,
		   "empty, '.' or '..' components", "empty component");
	fails_tree("include \"apps/web.txt\"\n", tree, FURROW_EINVAL,
		   "must name a .lua file", "not .lua");
	fails_tree("include(7)\n", tree, FURROW_EINVAL,
		   "include path must be a string, got number", "not a string");
	fails_tree("include \"apps/bad.lua\"\n", bad, FURROW_EINVAL,
		   "apps/bad.lua:3:", "syntax error names the included file");
	fails_tree("include \"apps/boom.lua\"\n", boom, FURROW_EINVAL,
		   "apps/boom.lua:2: boom", "runtime error names its line");
	fails_tree("pcall(include, \"a.lua\")\ninclude \"a.lua\"\n", cycle,
		   FURROW_EINVAL, "a.lua is already included",
		   "a caught error leaves the chain right");
	fails_tree("include \"x.lua\"\n", none, FURROW_EINVAL,
		   "no file x.lua", "empty file table");
	{
		static const char *const bad_key[] = {
			"../x.lua", "return 1", NULL,
		};

		fails_tree("", bad_key, FURROW_EINVAL, "file to include",
			   "a file key that is no repository path");
	}
}

static void test_embedded(void)
{
	size_t len = 0;
	const char *p = embedded_get("desired.lua", &len);

	ok(p && len > 0 && strlen(p) == len,
	   "desired.lua is embedded, NUL-terminated, len without the NUL");
	ok(p && !strncmp(p, "-- desired.lua", 14), "it is lua/desired.lua");
	ok(embedded_get("nope.lua", &len) == NULL, "absent name is NULL");
	ok(embedded_get("desired.lua", NULL) == p, "len may be NULL");
}

int main(void)
{
	test_embedded();
	test_example();
	test_serial();
	test_apps();
	test_policies();
	test_include();
	test_isolation();
	test_limits();
	test_deterministic();
	test_program();
	test_tight_memory();
	return tap_done();
}
