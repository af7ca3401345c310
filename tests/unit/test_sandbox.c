/*
 * test_sandbox.c - core/sandbox.c: converting results, and a suite of
 * escape attempts that must each end in a clear error while this process
 * lives on (every case runs in-process; an alarm turns a hang into a
 * failure).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "limits.h"
#include "sandbox.h"
#include "strbuf.h"
#include "tap.h"
#include "value.h"

static const struct sandbox_limits config_limits = {
	LIMIT_CONFIG_MEMORY_BYTES, LIMIT_CONFIG_INSTRUCTIONS,
	LIMIT_CONFIG_MILLISECONDS,
};

static int eval_with(struct value **out, const char *src,
		     const struct sandbox_limits *lim)
{
	return sandbox_eval(out, "chunk.lua", src, strlen(src), lim);
}

/* Evaluate src; on success return its result as compact JSON (caller
 * frees), else NULL with the error recorded. */
static char *eval_json(const char *src)
{
	struct strbuf sb = STRBUF_INIT;
	struct value *v;

	if (eval_with(&v, src, &config_limits))
		return NULL;
	value_to_json(&sb, v, 0);
	value_free(v);
	return strbuf_detach(&sb, NULL);
}

static void is_json(const char *src, const char *want, const char *name)
{
	char *got = eval_json(src);

	if (!got)
		tap_diag("error: %s", error_message());
	is_str(got, want, name);
	free(got);
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) +
	       (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* The chunk must fail with code and a message containing substr. */
static void fails_with(const char *src, int code, const char *substr,
		       const char *name, const struct sandbox_limits *lim)
{
	struct value *v = (struct value *)1;
	int rc;

	error_clear();
	rc = eval_with(&v, src, lim ? lim : &config_limits);
	ok(rc == code && strstr(error_message(), substr) && v == NULL,
	   "%s -> %s", name, error_name(code));
	if (rc != code || !strstr(error_message(), substr))
		tap_diag("rc=%d (%s) message: %s; want substring \"%s\"", rc,
			 error_name(rc), error_message(), substr);
	value_free(rc ? NULL : v);
}

static void test_conversion(void)
{
	struct value *v;
	const struct value *x;
	int rc;

	is_json("return {b = 1, a = 2, [2] = 3, [1] = 4, ['10'] = 5}",
		"{\"1\":4,\"2\":3,\"10\":5,\"a\":2,\"b\":1}",
		"keys sorted: integers ascending, then strings bytewise");
	is_json("return {'x', 'y', {true, false}}",
		"[\"x\",\"y\",[true,false]]", "arrays and booleans");
	is_json("return {a = {b = {c = {d = 'deep'}}}}",
		"{\"a\":{\"b\":{\"c\":{\"d\":\"deep\"}}}}", "nested tables");
	is_json("return {[1] = 1, [2.0] = 2}", "[1,2]",
		"float key 2.0 is normalised to the integer 2");
	is_json("return {}", "{}", "empty table");
	is_json("return 'plain'", "\"plain\"", "a string result");
	is_json("return", "null", "no result is nil");
	is_json("return nil, 'ignored'", "null", "only the first result counts");
	is_json("return {x = nil, y = 1}", "{\"y\":1}", "nil fields vanish");

	rc = eval_with(&v, "return {i = 3, f = 3.0, h = 0.5, big = 2^53,"
		       " neg = -7, m = math.maxinteger}", &config_limits);
	ok(rc == 0, "numbers evaluate");
	if (!rc) {
		x = value_get(v, "i");
		ok(x && x->type == VALUE_INTEGER && x->u.integer == 3,
		   "3 is an integer");
		x = value_get(v, "f");
		ok(x && x->type == VALUE_NUMBER && x->u.number == 3.0,
		   "3.0 stays a float");
		x = value_get(v, "h");
		ok(x && x->type == VALUE_NUMBER && x->u.number == 0.5,
		   "0.5 is a float");
		x = value_get(v, "big");
		ok(x && x->type == VALUE_NUMBER && x->u.number == 9007199254740992.0,
		   "2^53 is a float (Lua's ^ is float)");
		x = value_get(v, "neg");
		ok(x && x->type == VALUE_INTEGER && x->u.integer == -7,
		   "negative integer");
		x = value_get(v, "m");
		ok(x && x->type == VALUE_INTEGER && x->u.integer == LLONG_MAX,
		   "math.maxinteger survives");
	}
	value_free(v);

	rc = eval_with(&v, "return {s = 'a\\0b\\0', t = true, u = false}",
		       &config_limits);
	ok(rc == 0, "strings with NULs evaluate");
	if (!rc) {
		x = value_get(v, "s");
		ok(x && x->type == VALUE_STRING && x->u.string.len == 4 &&
		   !memcmp(x->u.string.ptr, "a\0b\0", 5),
		   "string keeps its NULs and length 4, NUL-terminated");
		x = value_get(v, "t");
		ok(x && x->type == VALUE_BOOLEAN && x->u.boolean, "true");
		x = value_get(v, "u");
		ok(x && x->type == VALUE_BOOLEAN && !x->u.boolean, "false");
		ok(value_get(v, "missing") == NULL, "absent key is NULL");
	}
	value_free(v);

	/* Hash order in Lua depends on insertion; the tree must not. */
	{
		char *a = eval_json("local t = {} for i = 1, 200 do "
				    "t['k' .. i] = i end return t");
		char *b = eval_json("local t = {} for i = 200, 1, -1 do "
				    "t['k' .. i] = i end return t");

		ok(a && b && !strcmp(a, b),
		   "same table built in two orders converts identically");
		free(a);
		free(b);
	}
}

static void test_absent(void)
{
	static const char *const globals[] = {
		"os", "io", "debug", "package", "coroutine",
	};
	static const char *const functions[] = {
		"require", "dofile", "loadfile", "load", "collectgarbage",
		"print", "loadstring", "module",
	};
	char src[128], name[128];
	size_t i;

	for (i = 0; i < sizeof(globals) / sizeof(*globals); i++) {
		snprintf(src, sizeof(src), "return %s.x()", globals[i]);
		snprintf(name, sizeof(name), "%s is absent", globals[i]);
		fails_with(src, FURROW_EINVAL, "chunk.lua:1:", name, NULL);
		snprintf(name, sizeof(name), "global '%s'", globals[i]);
		fails_with(src, FURROW_EINVAL, name, name, NULL);
	}
	for (i = 0; i < sizeof(functions) / sizeof(*functions); i++) {
		snprintf(src, sizeof(src), "return %s('x')", functions[i]);
		snprintf(name, sizeof(name),
			 "attempt to call a nil value (global '%s')",
			 functions[i]);
		fails_with(src, FURROW_EINVAL, name, name, NULL);
	}
	fails_with("return string.dump(function() end)", FURROW_EINVAL,
		   "attempt to call a nil value (field 'dump')",
		   "string.dump is absent", NULL);
	fails_with("return ('').dump(function() end)", FURROW_EINVAL,
		   "(field 'dump')", "string.dump is absent via a string's "
		   "metatable", NULL);
	fails_with("return _G.os.execute('true')", FURROW_EINVAL,
		   "field 'os'", "_G.os is absent", NULL);
	fails_with("return _ENV.io.open('/etc/passwd')", FURROW_EINVAL,
		   "'io'", "_ENV.io is absent", NULL);
	is_json("return {rawget(_G, 'os'), rawget(_G, 'io'), "
		"rawget(string, 'dump'), rawget(_G, 'load')}", "{}",
		"rawget finds none of them either");
}

static void test_bytecode(void)
{
	/* A real Lua 5.4 header: ESC "Lua" 0x54 0x00 ... */
	static const char chunk[] =
		"\x1bLua\x54\x00\x19\x93\r\n\x1a\n\x04\x08\x08"
		"xV\0\0\0\0\0\0\0\0\0\0\0(w@";
	struct value *v = NULL;
	int rc;

	error_clear();
	rc = sandbox_eval(&v, "chunk.lua", chunk, sizeof(chunk) - 1,
			  &config_limits);
	ok(rc == FURROW_ESYNTAX && strstr(error_message(), "binary chunk"),
	   "a binary chunk is refused (text mode only)");
	if (rc != FURROW_ESYNTAX)
		tap_diag("rc=%d: %s", rc, error_message());
	ok(v == NULL, "no result after refusing bytecode");
	fails_with("return load('\\27Lua')", FURROW_EINVAL, "global 'load'",
		   "bytecode through load is unreachable", NULL);
}

static void test_string_metatable(void)
{
	/* The string metatable is shared by every string of one state: a
	 * chunk may change it, but only for itself. */
	fails_with("local S = getmetatable('').__index\n"
		   "S.dump = function() return nil end\n"
		   "return ('x'):dump().open('/etc/passwd')",
		   FURROW_EINVAL, "chunk.lua:3:",
		   "a string.dump put back reaches nothing", NULL);
	fails_with("getmetatable('').__index = function(s, k) return io end\n"
		   "return ('x').anything.open('/etc/passwd')",
		   FURROW_EINVAL, "chunk.lua:2:",
		   "__index replaced on strings: io is still nil", NULL);
	is_json("getmetatable('').__index.dump = 1 string.evil = true "
		"return {}", "{}", "a chunk may scribble on string");
	is_json("return {type(string.dump), type(string.evil), "
		"type(getmetatable('').__index.dump)}",
		"[\"nil\",\"nil\",\"nil\"]",
		"the next evaluation starts from a fresh state");
	is_json("x_global = 1 return {}", "{}", "set a global");
	is_json("return {x_global}", "{}", "globals do not leak across runs");
}

static void test_limits(void)
{
	struct sandbox_limits fast = { 64u * 1024 * 1024, ULONG_MAX / 2, 100 };
	struct sandbox_limits roomy = { 256u * 1024 * 1024, 500000000ul, 20000 };
	struct sandbox_limits tiny = { 4096, 1000000ul, 1000 };
	struct timespec t0;

	fails_with("while true do end", FURROW_ELIMIT,
		   "chunk.lua: instruction limit of 10000000 exceeded",
		   "infinite loop", NULL);
	fails_with("while true do pcall(function() while true do end end) end",
		   FURROW_ELIMIT, "instruction limit",
		   "infinite loop inside pcall is still killed", NULL);
	fails_with("for i = 1, 100 do pcall(function() while true do end end) "
		   "end return {}", FURROW_ELIMIT, "instruction limit",
		   "re-trying pcall after the kill cannot return a result",
		   NULL);
	fails_with("local ok = pcall(function() while true do end end)\n"
		   "if not ok then return {survived = true} end",
		   FURROW_ELIMIT, "instruction limit",
		   "returning right after a swallowed kill still fails", NULL);
	fails_with("while true do xpcall(function() while true do end end, "
		   "function() while true do end end) end", FURROW_ELIMIT,
		   "instruction limit", "a looping xpcall handler is killed",
		   NULL);

	fails_with("local t = {} for i = 1, 1e9 do t[i] = i end",
		   FURROW_ELIMIT, "memory limit of 8388608 bytes",
		   "memory bomb (table)", NULL);
	fails_with("return string.rep('x', 2^30)", FURROW_ELIMIT,
		   "memory limit", "memory bomb (string.rep 2^30)", NULL);
	fails_with("local ok = pcall(string.rep, 'x', 2^30)\n"
		   "local t = {} for i = 1, 10 do t[i] = i end return t",
		   FURROW_ELIMIT, "memory limit",
		   "string.rep in pcall, then carrying on, still fails", NULL);
	fails_with("local s = 'x' while true do s = s .. s end",
		   FURROW_ELIMIT, "memory limit", "doubling a string", NULL);
	fails_with("return {}", FURROW_ELIMIT, "within the memory limit",
		   "a memory cap too small for the state itself", &tiny);

	/* Loops in C run no VM instructions; they are charged. */
	fails_with("return string.rep('', 1 << 62)", FURROW_ELIMIT,
		   "instruction limit", "string.rep of an empty string", NULL);
	fails_with("return string.rep('', 1 << 62, '')", FURROW_ELIMIT,
		   "instruction limit", "string.rep with empty separator", NULL);
	fails_with("return table.move({}, 1, 1 << 50, 1)", FURROW_ELIMIT,
		   "instruction limit", "table.move over a huge empty range",
		   NULL);
	fails_with("local t = setmetatable({}, {__len = function() "
		   "return 1 << 60 end}) table.insert(t, 1, 1)",
		   FURROW_EINVAL, "__len", "table.insert with a lying __len",
		   NULL);
	fails_with("local t = setmetatable({}, {__len = function() "
		   "return 1 << 60 end}) table.remove(t, 1)",
		   FURROW_EINVAL, "__len", "table.remove with a lying __len",
		   NULL);
	is_json("local t = {1, 2} table.insert(t, 1, 0) table.insert(t, 9) "
		"table.remove(t, 2) return {string.rep('ab', 3, '-'), "
		"table.move({1, 2, 3}, 1, 3, 2), t}",
		"[\"ab-ab-ab\",[1,1,2,3],[0,2,9]]",
		"the charged wrappers still work normally");

	/* Finalizers run with hooks off in Lua: a __gc could never be
	 * stopped, so none may be set. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	fails_with("setmetatable({}, {__gc = function() while true do end "
		   "end}) return {}", FURROW_EINVAL, "__gc",
		   "a looping __gc is refused", NULL);
	fails_with("local mt = {__gc = true} local t = setmetatable({}, mt) "
		   "mt.__gc = function() while true do end end return {}",
		   FURROW_EINVAL, "__gc",
		   "a placeholder __gc (later a function) is refused", NULL);
	is_json("local mt = {} local t = setmetatable({}, mt) "
		"mt.__gc = function() while true do end end "
		"return {getmetatable(t) == mt}", "[true]",
		"__gc added after setmetatable is inert and harmless");
	ok(seconds_since(&t0) < 10, "the __gc cases finished promptly");

	fails_with("local function f() return f() + 1 end return f()",
		   FURROW_ELIMIT, "memory limit",
		   "deep recursion meets the memory cap first", NULL);
	fails_with("local function f() return f() + 1 end return f()",
		   FURROW_EINVAL, "stack overflow",
		   "deep recursion with room: Lua's stack overflow", &roomy);
	is_json("local function f() return pcall(f) end\n"
		"local ok, e = f() return {ok, e}",
		"[true,true]",
		"recursion through pcall terminates (innermost pcall fails)");
	fails_with("local t = {} for i = 1, 1e7 do t[i] = true end return t",
		   FURROW_ELIMIT, "memory limit", "a huge table", NULL);
	fails_with("local t = {} for i = 1, 1000001 do t[i] = 1 end return t",
		   FURROW_ELIMIT, "more values than the limit",
		   "a result with more than LIMIT_VALUE_NODES values", &roomy);
	fails_with("return {string.rep('x', 1024 * 1024 + 1)}", FURROW_ELIMIT,
		   "[1]: string larger than the limit",
		   "a string over LIMIT_VALUE_STRING_BYTES", &roomy);
	fails_with("return {[string.rep('k', 1024 * 1024 + 1)] = 1}",
		   FURROW_ELIMIT, "string larger than the limit",
		   "a key over LIMIT_VALUE_STRING_BYTES", &roomy);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	fails_with("local k = string.rep('x', 1024 * 1024)\n"
		   "local t = {[k] = 1} local u = {}\n"
		   "for i = 1, 100000 do u[i] = t end return u",
		   FURROW_ELIMIT, "string larger than the limit",
		   "one big key shared by many tables is bounded", NULL);
	ok(seconds_since(&t0) < 10, "... and refused promptly");

	clock_gettime(CLOCK_MONOTONIC, &t0);
	fails_with("while true do end", FURROW_ELIMIT,
		   "chunk.lua: time limit of 100 ms exceeded",
		   "wall-clock deadline with a huge instruction budget", &fast);
	ok(seconds_since(&t0) < 2.0, "the deadline stopped it in time (%.3fs)",
	   seconds_since(&t0));
	fails_with("while true do pcall(function() while true do end end) end",
		   FURROW_ELIMIT, "time limit",
		   "the deadline is sticky through pcall", &fast);

}

/* The isolated evaluation: same results, and C-level runaways are killed. */
static void test_isolated(void)
{
	static const struct sandbox_limits lim = { 8u << 20, 1000000000ul, 300 };
	struct timespec t0;
	struct value *v = NULL;
	const char *src;
	int ret;

	src = "return { a = 1, b = { 'x', 2.5, true } }";
	ret = sandbox_eval_isolated(&v, "iso.lua", src, strlen(src), &lim);
	is_int(ret, 0, "isolated evaluation returns a result");
	ok(v && value_get(v, "a") && value_get(v, "a")->u.integer == 1 &&
	   value_get(v, "b") && value_get(v, "b")->u.table.count == 3,
	   "... the same tree as in process");
	value_free(v);
	v = NULL;

	src = "local x = nil\nreturn x.y";
	ret = sandbox_eval_isolated(&v, "iso.lua", src, strlen(src), &lim);
	is_int(ret, FURROW_EINVAL, "a runtime error crosses the pipe");
	ok(strstr(error_message(), "iso.lua:2:") != NULL,
	   "... with its message: %s", error_message());

	clock_gettime(CLOCK_MONOTONIC, &t0);
	src = "return (('a'):rep(3000)):find('.-.-.-.-b')";
	ret = sandbox_eval_isolated(&v, "iso.lua", src, strlen(src), &lim);
	is_int(ret, FURROW_ELIMIT, "catastrophic pattern backtracking is killed");
	ok(strstr(error_message(), "limit") != NULL, "... named as a limit: %s",
	   error_message());
	ok(seconds_since(&t0) < 5, "... within the deadline (%.2fs)",
	   seconds_since(&t0));
	ok(v == NULL, "... and yields no result");
}

static void test_errors(void)
{
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	fails_with("error(setmetatable({}, {__tostring = function() "
		   "while true do end end}))", FURROW_EINVAL,
		   "(error object is a table value)",
		   "hostile __tostring is never run", NULL);
	ok(seconds_since(&t0) < 5, "... so it returned promptly");
	fails_with("error(42)", FURROW_EINVAL, "error object is a number",
		   "error with a number object", NULL);
	fails_with("error(nil)", FURROW_EINVAL, "error object is a nil",
		   "error with nil", NULL);
	fails_with("error(setmetatable({}, {__name = 'evil', __index = "
		   "function() while true do end end}))", FURROW_EINVAL,
		   "table value", "error object with hostile __index", NULL);

	fails_with("return function() end", FURROW_EINVAL,
		   "chunk.lua: result: a function cannot be part of the result",
		   "a function as the result", NULL);
	fails_with("return {a = {b = {1, function() end}}}", FURROW_EINVAL,
		   "chunk.lua: a.b[2]: a function cannot be part of the result",
		   "a nested function is named by its key path", NULL);
	fails_with("return {x = {[3] = {y = string.len}}}", FURROW_EINVAL,
		   "x[3].y: a function", "a C function deep in the result",
		   NULL);
	fails_with("local t = {} t.t = t return t", FURROW_ELIMIT,
		   "nested deeper than the limit", "a cyclic table", NULL);
	fails_with("local t = {} for i = 1, 40 do t = {t} end return t",
		   FURROW_ELIMIT, "nested deeper than the limit",
		   "a table nested 40 deep", NULL);
	is_json("local t = 'leaf' for i = 1, 31 do t = {t} end "
		"return #tostring(t) > 0 and {} or nil", "{}",
		"(sanity: building 31 levels works)");
	fails_with("return {[true] = 1}", FURROW_EINVAL,
		   "table key of type boolean is not allowed",
		   "a boolean key", NULL);
	fails_with("return {a = {[1.5] = 1}}", FURROW_EINVAL,
		   "a: table key of type number is not allowed",
		   "a float key, named by its table's path", NULL);
	fails_with("return {[{}] = 1}", FURROW_EINVAL,
		   "table key of type table", "a table key", NULL);

	fails_with("return {", FURROW_ESYNTAX, "chunk.lua:1:",
		   "syntax error names the chunk and line", NULL);
	fails_with("local a = 1\n\nlocal = 2", FURROW_ESYNTAX, "chunk.lua:3:",
		   "syntax error on line 3", NULL);
	fails_with("local a = 1\n\nerror('boom')", FURROW_EINVAL,
		   "chunk.lua:3: boom",
		   "runtime error carries chunkname:line", NULL);
	fails_with("local t = nil\nreturn t.x", FURROW_EINVAL,
		   "chunk.lua:2: attempt to index a nil value",
		   "runtime error from the VM carries chunkname:line", NULL);
}

static void test_determinism(void)
{
	static const char src[] =
		"local t = {} for i = 1, 20 do t[i] = math.random(1, 1000000) "
		"end t.f = math.random() return t";
	char *a = eval_json(src), *b = eval_json(src);
	struct value *v = NULL;

	ok(a && b && !strcmp(a, b),
	   "math.random gives the same sequence in two evaluations");
	/* ... and is a sequence, not a constant. */
	if (a && !eval_with(&v, src, &config_limits)) {
		const struct value *x1 = &v->u.table.entries[0].val;
		const struct value *x2 = &v->u.table.entries[1].val;

		ok(x1->u.integer != x2->u.integer, "the values vary");
	} else {
		ok(0, "the values vary");
	}
	value_free(v);
	free(a);
	free(b);
	is_json("return { tostring({}), tostring(function() end), "
		"tostring(setmetatable({}, { __tostring = function() return 'x' end })) }",
		"[\"table\",\"function\",\"x\"]",
		"tostring shows no addresses, but honours __tostring");
	fails_with("return string.format('%p', {})", FURROW_EINVAL,
		   "%p is not available", "string.format %p is refused", NULL);
	fails_with("return ('%-8p'):format({})", FURROW_EINVAL,
		   "%p is not available", "... also with flags, as a method", NULL);
	is_json("return string.format('%%p %d', 7)", "\"%p 7\"",
		"a literal %%p still formats");
	ok(strstr(sandbox_lua_version(), "Lua 5.4") == sandbox_lua_version(),
	   "sandbox_lua_version is \"Lua 5.4...\" (%s)",
	   sandbox_lua_version());
}

int main(void)
{
	/* A hang is a failure, not a stuck test run. */
	alarm(120);
	test_conversion();
	test_absent();
	test_bytecode();
	test_string_metatable();
	test_limits();
	test_errors();
	test_determinism();
	test_isolated();
	return tap_done();
}
