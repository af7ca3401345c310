/*
 * sandbox.c - Lua evaluation under caps (see sandbox.h).
 *
 * The only file in furrow that includes Lua.  Modelled on Redis'
 * scripting sandbox and lua.c: libraries opened one by one, dangerous
 * globals removed, a count hook that becomes sticky once a script is
 * killed so that pcall cannot swallow the kill.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "bug.h"
#include "error.h"
#include "limits.h"
#include "sandbox.h"
#include "strbuf.h"
#include "banned.h"

/* How many VM instructions run between two looks at the budget and clock. */
#define HOOK_EVERY 1000

struct sandbox_run {
	size_t mem_used;
	size_t mem_cap;
	int mem_exceeded;

	unsigned long instructions;
	unsigned long instruction_cap;
	struct timespec deadline;
	unsigned milliseconds;

	/* Set once the script must die; the hook then fires on every
	 * instruction and raises again, so no pcall can catch it. */
	const char *killed;

	/* Conversion state (result to struct value). */
	struct value *result;
	size_t nodes;
	size_t string_bytes;
	struct strbuf path;
	int convert_error;
};

static void *sandbox_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct sandbox_run *run = ud;
	size_t old = ptr ? osize : 0;

	if (nsize == 0) {
		free(ptr);
		run->mem_used -= old;
		return NULL;
	}
	if (nsize > old && nsize - old > run->mem_cap - run->mem_used) {
		run->mem_exceeded = 1;
		if (!run->killed)
			run->killed = "memory";
		return NULL;
	}
	ptr = realloc(ptr, nsize);
	if (ptr)
		run->mem_used = run->mem_used - old + nsize;
	return ptr;
}

static int deadline_passed(const struct sandbox_run *run)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > run->deadline.tv_sec ||
	       (now.tv_sec == run->deadline.tv_sec &&
		now.tv_nsec >= run->deadline.tv_nsec);
}

static struct sandbox_run *run_of(lua_State *L)
{
	void *ud;

	lua_getallocf(L, &ud);
	return ud;
}

static void sandbox_hook(lua_State *L, lua_Debug *ar)
{
	struct sandbox_run *run = run_of(L);

	(void)ar;
	if (!run->killed) {
		run->instructions += HOOK_EVERY;
		if (run->instructions > run->instruction_cap)
			run->killed = "instructions";
		else if (deadline_passed(run))
			run->killed = "time";
	}
	if (run->killed) {
		lua_sethook(L, sandbox_hook, LUA_MASKCOUNT, 1);
		luaL_error(L, "sandbox: script killed (%s limit)", run->killed);
	}
}

/* Message handler: keep string messages, never call __tostring. */
static int sandbox_msgh(lua_State *L)
{
	if (lua_type(L, 1) == LUA_TSTRING)
		return 1;
	lua_pushfstring(L, "(error object is a %s value)",
			luaL_typename(L, 1));
	return 1;
}

static void open_lib(lua_State *L, const char *name, lua_CFunction fn)
{
	luaL_requiref(L, name, fn, 1);
	lua_pop(L, 1);
}

static void remove_field(lua_State *L, const char *table, const char *field)
{
	if (table) {
		lua_getglobal(L, table);
		lua_pushnil(L);
		lua_setfield(L, -2, field);
		lua_pop(L, 1);
	} else {
		lua_pushnil(L);
		lua_setglobal(L, field);
	}
}

/* Kill the script from C: sticky, like the hook (see sandbox_hook). */
static int kill_script(lua_State *L, const char *why)
{
	struct sandbox_run *run = run_of(L);

	if (!run->killed)
		run->killed = why;
	lua_sethook(L, sandbox_hook, LUA_MASKCOUNT, 1);
	return luaL_error(L, "sandbox: script killed (%s limit)", run->killed);
}

/*
 * Library loops written in C run no VM instructions, so the count hook
 * never sees them: charge their iterations to the budget up front.
 */
static void charge(lua_State *L, lua_Unsigned n)
{
	struct sandbox_run *run = run_of(L);

	if (run->killed || n > run->instruction_cap - run->instructions)
		kill_script(L, "instructions");
	run->instructions += n;
}

/* Call the wrapped library function (upvalue 1) with our arguments. */
static int call_wrapped(lua_State *L)
{
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
	return lua_gettop(L);
}

/* string.rep("", 2^62) loops 2^62 times without allocating (with any
 * bytes to copy, the up-front allocation meets the memory cap first). */
static int sandbox_rep(lua_State *L)
{
	size_t l, lsep;
	lua_Integer n;

	luaL_checklstring(L, 1, &l);
	n = luaL_checkinteger(L, 2);
	luaL_optlstring(L, 3, "", &lsep);
	if (n > 0 && l == 0 && lsep == 0)
		charge(L, (lua_Unsigned)n);
	return call_wrapped(L);
}

/* table.move(t, 1, 2^50, 1) on an empty table loops without allocating. */
static int sandbox_move(lua_State *L)
{
	lua_Integer f = luaL_checkinteger(L, 2), e = luaL_checkinteger(L, 3);

	if (e >= f)
		charge(L, (lua_Unsigned)e - (lua_Unsigned)f);
	return call_wrapped(L);
}

/* table.insert/remove loop up to #t, which a __len metamethod can make
 * 2^60 (and make different on each call, so it cannot be charged). */
static int sandbox_no_len(lua_State *L)
{
	if (luaL_getmetafield(L, 1, "__len") != LUA_TNIL)
		return luaL_error(L, "sandbox: table.insert/remove on a table "
				  "with __len is not allowed");
	return call_wrapped(L);
}

/* Lua runs finalizers with hooks off, so a __gc could loop forever. */
static int sandbox_setmetatable(lua_State *L)
{
	if (lua_type(L, 2) == LUA_TTABLE) {
		lua_pushliteral(L, "__gc");
		if (lua_rawget(L, 2) != LUA_TNIL)
			return luaL_error(L, "sandbox: __gc metamethods are "
					  "not allowed");
		lua_pop(L, 1);
	}
	return call_wrapped(L);
}

/*
 * An error raised in the count hook runs xpcall's handler while Lua still
 * has hooks off, so a looping handler could never be stopped.  Once the
 * script is killed, the handler is skipped and the error passes as is.
 */
static int sandbox_guarded_handler(lua_State *L)
{
	if (run_of(L)->killed)
		return 1;
	return call_wrapped(L);
}

static int sandbox_xpcall(lua_State *L)
{
	luaL_checktype(L, 2, LUA_TFUNCTION);
	lua_pushvalue(L, 2);
	lua_pushcclosure(L, sandbox_guarded_handler, 1);
	lua_replace(L, 2);
	return call_wrapped(L);
}

/* Call the wrapped original (upvalue 1) with this call's arguments. */
static int call_original(lua_State *L)
{
	int n = lua_gettop(L);

	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, n, LUA_MULTRET);
	return lua_gettop(L);
}

/* tostring() of a table or function prints its address, which changes
 * from run to run (ASLR): give the type name instead, unless the value
 * names itself through __tostring or __name. */
static int sandbox_tostring(lua_State *L)
{
	int t = lua_type(L, 1);

	if ((t == LUA_TTABLE || t == LUA_TFUNCTION || t == LUA_TUSERDATA ||
	     t == LUA_TTHREAD) &&
	    luaL_getmetafield(L, 1, "__tostring") == LUA_TNIL &&
	    luaL_getmetafield(L, 1, "__name") == LUA_TNIL) {
		lua_pushstring(L, lua_typename(L, t));
		return 1;
	}
	lua_settop(L, lua_gettop(L) > 0 ? 1 : 0);
	return call_original(L);
}

/* string.format("%p") prints an address: refused, for the same reason. */
static int sandbox_format(lua_State *L)
{
	size_t len;
	const char *f = luaL_checklstring(L, 1, &len), *end = f + len;

	for (; f < end; f++) {
		if (*f != '%')
			continue;
		if (++f < end && *f == '%')
			continue;
		while (f < end && strchr("-+ #0123456789.", *f))
			f++;
		if (f < end && *f == 'p')
			return luaL_error(L, "string.format: %%p is not available "
					  "in the sandbox (addresses differ "
					  "between runs)");
	}
	return call_original(L);
}

static void wrap_field(lua_State *L, const char *table, const char *field,
		       lua_CFunction fn)
{
	lua_getglobal(L, table);
	lua_getfield(L, -1, field);
	lua_pushcclosure(L, fn, 1);
	lua_setfield(L, -2, field);
	lua_pop(L, 1);
}

/* Runs protected: opening libraries allocates and may fail the cap. */
static int sandbox_setup(lua_State *L)
{
	static const char *const removed_globals[] = {
		"dofile", "loadfile", "load", "collectgarbage", "print",
		"require", "module",
	};
	size_t i;

	open_lib(L, LUA_GNAME, luaopen_base);
	open_lib(L, LUA_STRLIBNAME, luaopen_string);
	open_lib(L, LUA_TABLIBNAME, luaopen_table);
	open_lib(L, LUA_MATHLIBNAME, luaopen_math);
	open_lib(L, LUA_UTF8LIBNAME, luaopen_utf8);
	for (i = 0; i < sizeof(removed_globals) / sizeof(*removed_globals); i++)
		remove_field(L, NULL, removed_globals[i]);
	remove_field(L, LUA_STRLIBNAME, "dump");
	wrap_field(L, LUA_GNAME, "setmetatable", sandbox_setmetatable);
	wrap_field(L, LUA_GNAME, "xpcall", sandbox_xpcall);
	wrap_field(L, LUA_STRLIBNAME, "rep", sandbox_rep);
	wrap_field(L, LUA_GNAME, "tostring", sandbox_tostring);
	wrap_field(L, LUA_STRLIBNAME, "format", sandbox_format);
	wrap_field(L, LUA_TABLIBNAME, "move", sandbox_move);
	wrap_field(L, LUA_TABLIBNAME, "insert", sandbox_no_len);
	wrap_field(L, LUA_TABLIBNAME, "remove", sandbox_no_len);

	/* Same inputs, same outputs: a fixed seed for math.random. */
	lua_getglobal(L, LUA_MATHLIBNAME);
	lua_getfield(L, -1, "randomseed");
	lua_pushinteger(L, 0);
	lua_call(L, 1, 0);
	lua_pop(L, 1);
	return 0;
}

static int convert(lua_State *L, int idx, struct value *out, int depth);

static int convert_fail(lua_State *L, int code, const char *what)
{
	struct sandbox_run *run = run_of(L);

	error_set(code, "%s: %s", run->path.len ? run->path.buf : "result",
		  what);
	run->convert_error = code;
	return luaL_error(L, "conversion failed");
}

static void path_push_key(struct strbuf *path, lua_State *L, int kidx)
{
	if (lua_type(L, kidx) == LUA_TSTRING) {
		if (path->len)
			strbuf_addch(path, '.');
		strbuf_addstr(path, lua_tostring(L, kidx));
	} else {
		strbuf_addf(path, "[%lld]", (long long)lua_tointeger(L, kidx));
	}
}

static int convert_table(lua_State *L, int idx, struct value *out, int depth)
{
	struct sandbox_run *run = run_of(L);
	struct value *slot;
	size_t mark;

	if (depth >= LIMIT_VALUE_DEPTH)
		return convert_fail(L, FURROW_ELIMIT,
				    "tables nested deeper than the limit "
				    "(cyclic table?)");
	if (!lua_checkstack(L, 4))
		return convert_fail(L, FURROW_ELIMIT, "Lua stack exhausted");
	out->type = VALUE_TABLE;
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		int kt = lua_type(L, -2);

		if (++run->nodes > LIMIT_VALUE_NODES)
			return convert_fail(L, FURROW_ELIMIT,
					    "more values than the limit");
		mark = run->path.len;
		if (kt == LUA_TSTRING) {
			size_t klen;
			const char *k = lua_tolstring(L, -2, &klen);

			run->string_bytes += klen;
			if (klen > LIMIT_VALUE_STRING_BYTES ||
			    run->string_bytes > 64u * LIMIT_VALUE_STRING_BYTES)
				return convert_fail(L, FURROW_ELIMIT,
						    "string larger than the limit");
			slot = value_table_add_str(out, k, klen);
		} else if (kt == LUA_TNUMBER && lua_isinteger(L, -2)) {
			slot = value_table_add_int(out, lua_tointeger(L, -2));
		} else {
			return convert_fail(L, FURROW_EINVAL,
				lua_pushfstring(L, "table key of type %s is not "
						"allowed (use strings or integers)",
						luaL_typename(L, -2)));
		}
		path_push_key(&run->path, L, lua_gettop(L) - 1);
		convert(L, lua_gettop(L), slot, depth + 1);
		strbuf_setlen(&run->path, mark);
		lua_pop(L, 1);
	}
	if (value_sort(out))
		return convert_fail(L, FURROW_EINVAL, "duplicate table key");
	return 0;
}

static int convert(lua_State *L, int idx, struct value *out, int depth)
{
	struct sandbox_run *run = run_of(L);
	size_t len;
	const char *s;

	switch (lua_type(L, idx)) {
	case LUA_TNIL:
		out->type = VALUE_NIL;
		return 0;
	case LUA_TBOOLEAN:
		out->type = VALUE_BOOLEAN;
		out->u.boolean = lua_toboolean(L, idx);
		return 0;
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx)) {
			out->type = VALUE_INTEGER;
			out->u.integer = lua_tointeger(L, idx);
		} else {
			out->type = VALUE_NUMBER;
			out->u.number = lua_tonumber(L, idx);
		}
		return 0;
	case LUA_TSTRING:
		s = lua_tolstring(L, idx, &len);
		run->string_bytes += len;
		if (len > LIMIT_VALUE_STRING_BYTES ||
		    run->string_bytes > 64u * LIMIT_VALUE_STRING_BYTES)
			return convert_fail(L, FURROW_ELIMIT,
					    "string larger than the limit");
		value_set_string(out, s, len);
		return 0;
	case LUA_TTABLE:
		return convert_table(L, idx, out, depth);
	default:
		return convert_fail(L, FURROW_EINVAL,
			lua_pushfstring(L, "a %s cannot be part of the result",
					luaL_typename(L, idx)));
	}
}

/* Protected entry for the conversion: upvalue-free, result in run. */
static int convert_result(lua_State *L)
{
	struct sandbox_run *run = run_of(L);

	run->result = value_new(VALUE_NIL);
	return convert(L, 1, run->result, 0);
}

/*
 * Input: furrow's own value tree, copied into Lua for the prelude.  It is
 * trusted data, but bounded like a result all the same, so that an
 * oversized plan is a clear limit error rather than a Lua state that
 * grows until the memory cap kills the prelude with a vaguer message.
 */
static void push_value(lua_State *L, const struct value *v, int depth);

static void input_fail(lua_State *L, int code, const char *what)
{
	struct sandbox_run *run = run_of(L);

	error_set(code, "input%s%s: %s", run->path.len ? " " : "",
		  run->path.buf, what);
	run->convert_error = code;
	luaL_error(L, "input conversion failed");
}

static void input_string(lua_State *L, const char *s, size_t len)
{
	struct sandbox_run *run = run_of(L);

	run->string_bytes += len;
	if (len > LIMIT_VALUE_STRING_BYTES ||
	    run->string_bytes > 64u * LIMIT_VALUE_STRING_BYTES)
		input_fail(L, FURROW_ELIMIT, "string larger than the limit");
	lua_pushlstring(L, s, len);
}

static void push_table(lua_State *L, const struct value *t, int depth)
{
	struct sandbox_run *run = run_of(L);
	size_t narr = 0, i, mark;

	if (depth >= LIMIT_VALUE_DEPTH)
		input_fail(L, FURROW_ELIMIT, "tables nested deeper than the "
			   "limit");
	if (!lua_checkstack(L, 4))
		input_fail(L, FURROW_ELIMIT, "Lua stack exhausted");
	/* Entries are sorted, integer keys first: size the array part for
	 * 1..n so that a list becomes a plain sequence. */
	while (narr < t->u.table.count &&
	       t->u.table.entries[narr].key.type == VALUE_INTEGER &&
	       t->u.table.entries[narr].key.u.integer == (long long)narr + 1)
		narr++;
	lua_createtable(L, narr > INT_MAX ? 0 : (int)narr,
			t->u.table.count - narr > INT_MAX ?
			0 : (int)(t->u.table.count - narr));
	for (i = 0; i < t->u.table.count; i++) {
		const struct value_entry *e = &t->u.table.entries[i];

		if (++run->nodes > LIMIT_VALUE_NODES)
			input_fail(L, FURROW_ELIMIT, "more values than the "
				   "limit");
		if (e->val.type == VALUE_NIL)
			continue;
		mark = run->path.len;
		if (e->key.type == VALUE_STRING) {
			if (run->path.len)
				strbuf_addch(&run->path, '.');
			strbuf_addstr(&run->path, e->key.u.string.ptr);
			input_string(L, e->key.u.string.ptr,
				     e->key.u.string.len);
		} else if (e->key.type == VALUE_INTEGER) {
			strbuf_addf(&run->path, "[%lld]", e->key.u.integer);
			lua_pushinteger(L, e->key.u.integer);
		} else {
			input_fail(L, FURROW_EINVAL, "a table key that is "
				   "neither a string nor an integer");
		}
		push_value(L, &e->val, depth + 1);
		lua_rawset(L, -3);
		strbuf_setlen(&run->path, mark);
	}
}

static void push_value(lua_State *L, const struct value *v, int depth)
{
	switch (v->type) {
	case VALUE_NIL:
		lua_pushnil(L);
		break;
	case VALUE_BOOLEAN:
		lua_pushboolean(L, v->u.boolean);
		break;
	case VALUE_INTEGER:
		lua_pushinteger(L, v->u.integer);
		break;
	case VALUE_NUMBER:
		lua_pushnumber(L, v->u.number);
		break;
	case VALUE_STRING:
		input_string(L, v->u.string.ptr, v->u.string.len);
		break;
	case VALUE_TABLE:
		push_table(L, v, depth);
		break;
	}
}

/* Protected: replace the light userdata at 1 (a value or NULL) by its
 * Lua copy.  Allocation may meet the memory cap, hence the pcall. */
static int push_input(lua_State *L)
{
	const struct value *input = lua_touserdata(L, 1);

	lua_settop(L, 0);
	if (input)
		push_value(L, input, 0);
	else
		lua_pushnil(L);
	return 1;
}

static int killed_error(const struct sandbox_run *run, const char *chunkname,
			const struct sandbox_limits *lim)
{
	if (!strcmp(run->killed, "memory"))
		return error_set(FURROW_ELIMIT,
				 "%s: memory limit of %zu bytes exceeded",
				 chunkname, lim->memory_bytes);
	if (!strcmp(run->killed, "instructions"))
		return error_set(FURROW_ELIMIT,
				 "%s: instruction limit of %lu exceeded",
				 chunkname, lim->instructions);
	return error_set(FURROW_ELIMIT, "%s: time limit of %u ms exceeded",
			 chunkname, lim->milliseconds);
}

static void run_init(struct sandbox_run *run,
		     const struct sandbox_limits *limits)
{
	memset(run, 0, sizeof(*run));
	strbuf_init(&run->path, 0);
	run->mem_cap = limits->memory_bytes;
	run->instruction_cap = limits->instructions;
	run->milliseconds = limits->milliseconds;
	clock_gettime(CLOCK_MONOTONIC, &run->deadline);
	run->deadline.tv_sec += limits->milliseconds / 1000;
	run->deadline.tv_nsec += (long)(limits->milliseconds % 1000) * 1000000L;
	if (run->deadline.tv_nsec >= 1000000000L) {
		run->deadline.tv_sec++;
		run->deadline.tv_nsec -= 1000000000L;
	}
}

/* The message on top of the stack, never through __tostring. */
static const char *top_message(lua_State *L, const char *fallback)
{
	return lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : fallback;
}

/*
 * Load text chunk src as "@name" (so that Lua prints "name:line:" in
 * messages), leaving the function on the stack.  A chunk that does not
 * compile is syntax_code: FURROW_ESYNTAX for the user's file, a bug-like
 * FURROW_ERR for furrow's own prelude.
 */
static int load_text(lua_State *L, struct sandbox_run *run, const char *name,
		     const char *src, size_t len, int syntax_code,
		     const char *chunkname, const struct sandbox_limits *lim)
{
	struct strbuf at = STRBUF_INIT;
	int rc;

	strbuf_addf(&at, "@%s", name);
	rc = luaL_loadbufferx(L, src, len, at.buf, "t");
	strbuf_release(&at);
	if (rc == LUA_OK)
		return 0;
	if (run->killed)
		return killed_error(run, chunkname, lim);
	return error_set(syntax_code, "%s", top_message(L, "cannot load"));
}

/* Call the function below nargs arguments under the message handler at
 * stack index 1; a kill wins over whatever error the script saw. */
static int call_checked(lua_State *L, struct sandbox_run *run, int nargs,
			int nresults, const char *chunkname,
			const struct sandbox_limits *lim)
{
	int rc = lua_pcall(L, nargs, nresults, 1);

	if (run->killed)
		return killed_error(run, chunkname, lim);
	if (rc != LUA_OK)
		return error_set(FURROW_EINVAL, "%s", top_message(L, "error"));
	return 0;
}

/*
 * The prelude's third argument: load_text(src, name, env) compiles the
 * text chunk src as "@name" with env as its _ENV and returns it, or
 * returns nil and the compiler's message.  Text only, like every chunk
 * here; the global load stays removed, and the prelude keeps this in a
 * local that the user's code cannot reach.
 */
static int sandbox_load_text(lua_State *L)
{
	size_t len;
	const char *src = luaL_checklstring(L, 1, &len);
	const char *name = luaL_checkstring(L, 2);

	luaL_checktype(L, 3, LUA_TTABLE);
	lua_pushfstring(L, "@%s", name);
	if (luaL_loadbufferx(L, src, len, lua_tostring(L, -1), "t") != LUA_OK) {
		lua_pushnil(L);
		lua_insert(L, -2);
		return 2;
	}
	lua_pushvalue(L, 3);
	if (!lua_setupvalue(L, -2, 1))
		lua_pop(L, 1);
	return 1;
}

/*
 * Call the prelude (at 1, then the light userdata holding the chunk name
 * and the input) with the name as a Lua string.  Making that string
 * allocates, which may hit the memory cap, so it happens here, under the
 * caller's lua_pcall, and not on the bare stack where a failed
 * allocation would panic.
 */
static int call_prelude(lua_State *L)
{
	const char *name = lua_touserdata(L, 2);

	lua_pushstring(L, name);
	lua_replace(L, 2);
	lua_pushcfunction(L, sandbox_load_text);
	lua_call(L, 3, 2);
	return 2;
}

/* Leave the Lua copy of input (nil for NULL) on top of the stack. */
static int load_input(lua_State *L, struct sandbox_run *run,
		      const struct value *input, const char *chunkname,
		      const struct sandbox_limits *lim)
{
	int rc;

	lua_pushcfunction(L, push_input);
	lua_pushlightuserdata(L, (void *)input);
	rc = lua_pcall(L, 1, 1, 0);
	/* The counters and path are the result conversion's again. */
	run->nodes = 0;
	run->string_bytes = 0;
	strbuf_setlen(&run->path, 0);
	if (rc == LUA_OK)
		return 0;
	if (run->convert_error)
		return error_prefix(run->convert_error, "%s", chunkname);
	if (run->killed)
		return killed_error(run, chunkname, lim);
	return error_set(FURROW_ELIMIT, "%s: cannot copy the input within "
			 "the memory limit", chunkname);
}

/*
 * Run the prelude (if any), then the user's chunk, and leave the value
 * to convert on top of the stack.  Without a prelude that is the chunk's
 * first result.  With one, the prelude is called with chunkname and the
 * input as its arguments and returns (env, finish): the chunk runs with
 * env as its _ENV, and finish(chunk's first result)'s first result is
 * the value.
 */
static int run_program(lua_State *L, struct sandbox_run *run,
		       const char *prelude_name, const char *prelude,
		       size_t plen, const char *chunkname, const char *src,
		       size_t len, const struct value *input,
		       const struct sandbox_limits *lim)
{
	int ret, env = 0, finish = 0, in;

	if (prelude) {
		ret = load_input(L, run, input, chunkname, lim);
		if (ret)
			return ret;
		in = lua_gettop(L);
		ret = load_text(L, run, prelude_name, prelude, plen,
				FURROW_ERR, chunkname, lim);
		if (ret)
			return ret;
		lua_pushcfunction(L, call_prelude);
		lua_insert(L, -2);
		lua_pushlightuserdata(L, (void *)chunkname);
		lua_pushvalue(L, in);
		ret = call_checked(L, run, 3, 2, chunkname, lim);
		/* A limit is the input's fault; any other error is ours. */
		if (ret == FURROW_EINVAL)
			ret = error_prefix(FURROW_ERR, "built-in prelude "
					   "failed");
		if (ret)
			return ret;
		finish = lua_gettop(L);
		env = finish - 1;
		if (lua_type(L, env) != LUA_TTABLE ||
		    lua_type(L, finish) != LUA_TFUNCTION)
			return error_set(FURROW_ERR, "%s: built-in prelude %s "
					 "did not return an environment and "
					 "a finish function", chunkname,
					 prelude_name);
	}
	ret = load_text(L, run, chunkname, src, len, FURROW_ESYNTAX,
			chunkname, lim);
	if (ret)
		return ret;
	if (prelude) {
		/* A main chunk's one upvalue is its _ENV. */
		lua_pushvalue(L, env);
		if (!lua_setupvalue(L, -2, 1))
			BUG("loaded chunk has no _ENV upvalue");
	}
	ret = call_checked(L, run, 0, 1, chunkname, lim);
	if (ret || !prelude)
		return ret;
	/* finish(result): a prelude may want what the chunk returned. */
	lua_pushvalue(L, finish);
	lua_insert(L, -2);
	return call_checked(L, run, 1, 1, chunkname, lim);
}

static int eval_program(struct value **out, const char *prelude_name,
			const char *prelude, size_t plen,
			const char *chunkname, const char *src, size_t len,
			const struct value *input,
			const struct sandbox_limits *limits)
{
	struct sandbox_run run;
	lua_State *L = NULL;
	int ret = 0, rc;

	*out = NULL;
	run_init(&run, limits);
	L = lua_newstate(sandbox_alloc, &run);
	if (!L) {
		ret = error_set(FURROW_ELIMIT, "%s: cannot create Lua state "
				"within the memory limit", chunkname);
		goto out;
	}
	lua_pushcfunction(L, sandbox_setup);
	if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
		ret = error_set(FURROW_ELIMIT, "%s: cannot set up the sandbox "
				"within the memory limit", chunkname);
		goto out;
	}
	lua_sethook(L, sandbox_hook, LUA_MASKCOUNT, HOOK_EVERY);

	lua_pushcfunction(L, sandbox_msgh); /* stack index 1 */
	ret = run_program(L, &run, prelude_name, prelude, plen, chunkname,
			  src, len, input, limits);
	if (ret)
		goto out;

	/* Convert with the hook off: conversion runs no Lua code. */
	lua_sethook(L, NULL, 0, 0);
	lua_pushcfunction(L, convert_result);
	lua_insert(L, -2);
	rc = lua_pcall(L, 1, 0, 0);
	if (rc != LUA_OK) {
		if (run.convert_error)
			ret = error_prefix(run.convert_error, "%s", chunkname);
		else if (run.killed)
			ret = killed_error(&run, chunkname, limits);
		else
			ret = error_set(FURROW_ELIMIT, "%s: cannot convert the "
					"result within the memory limit",
					chunkname);
		goto out;
	}
	*out = run.result;
	run.result = NULL;
out:
	if (L)
		lua_close(L);
	value_free(run.result);
	strbuf_release(&run.path);
	return ret;
}

int sandbox_eval(struct value **out, const char *chunkname, const char *src,
		 size_t len, const struct sandbox_limits *limits)
{
	return eval_program(out, NULL, NULL, 0, chunkname, src, len, NULL,
			    limits);
}

int sandbox_eval_program(struct value **out, const char *prelude_name,
			 const char *prelude, size_t plen,
			 const char *chunkname, const char *src, size_t len,
			 const struct value *input,
			 const struct sandbox_limits *limits)
{
	if (!prelude)
		BUG("sandbox_eval_program without a prelude");
	return eval_program(out, prelude_name, prelude, plen, chunkname, src,
			    len, input, limits);
}

const char *sandbox_lua_version(void)
{
	/* lua_ident is "$LuaVersion: Lua 5.4.4  Copyright ..." and comes
	 * from the linked library, not from the header we compiled with. */
	static char version[32];
	const char *p = strstr(lua_ident, "Lua ");
	size_t n = 0;

	if (!version[0] && p) {
		while (p[n] && !(p[n] == ' ' && p[n + 1] == ' ') &&
		       n < sizeof(version) - 1)
			n++;
		memcpy(version, p, n);
		version[n] = '\0';
	}
	return version[0] ? version : LUA_RELEASE;
}
