/*
 * sandbox.h - evaluate untrusted Lua text into a plain value tree.
 *
 * core/sandbox.c is the only file that includes Lua.  Each evaluation
 * gets a fresh lua_State with:
 *   - a byte-counting allocator: memory over the cap fails, and the
 *     failure is sticky (a pcall that swallows it is raised again);
 *   - an instruction budget and a wall-clock deadline, enforced by a
 *     count hook that turns sticky once spent;
 *   - text chunks only (no bytecode), no io/os/debug/package/require,
 *     no dofile/loadfile/load/collectgarbage, no string.dump, and a
 *     deterministic math.random.
 * What the chunk returns is converted to a struct value (value.h) under
 * the LIMIT_VALUE_* bounds; functions, userdata, threads and cyclic or
 * too-deep tables in the result are errors.
 *
 * Errors never run code of the chunk's: an error object that is not a
 * string is reported by type, not through its __tostring.
 */
#ifndef FURROW_SANDBOX_H
#define FURROW_SANDBOX_H

#include <stddef.h>

#include "value.h"

struct sandbox_limits {
	size_t memory_bytes;
	unsigned long instructions;
	unsigned milliseconds;
};

/*
 * Run the Lua text src (len bytes, named chunkname in messages, e.g. the
 * file path) and convert its first return value.  On success *out is a
 * tree the caller frees with value_free().  Returns 0, or FURROW_ESYNTAX
 * (does not compile), FURROW_ELIMIT (memory, instructions, time, result
 * size), FURROW_EINVAL (runtime error, unconvertible result), with the
 * message recorded (error.h).
 */
int sandbox_eval(struct value **out, const char *chunkname, const char *src,
		 size_t len, const struct sandbox_limits *limits);

/*
 * Run a program made of furrow's own prelude and the user's chunk, in one
 * sandbox under one set of caps (the prelude's work counts too).  Both are
 * text.  The prelude (named prelude_name in messages) is called with three
 * arguments, chunkname, input converted to Lua (nil when input is NULL)
 * and load_text(src, name, env), which compiles a text chunk named
 * "@name" with env as its _ENV and returns it (or nil and the message;
 * the global load stays removed), and must return an environment table
 * and a finish function.
 * The chunk then runs with that table as its _ENV, so the globals it
 * reads and sets are the environment's, never the prelude's.  Last,
 * finish() is called with the chunk's first return value as its only
 * argument, and its own first result is converted exactly as
 * sandbox_eval() converts a chunk's.
 *
 * input is furrow's data, borrowed for the call: strings keep their
 * bytes (NULs too), tables become fresh Lua tables with the same keys
 * (keys 1..n make a sequence), nil entries are left out.  It is held to
 * the LIMIT_VALUE_* bounds like a result, and its Lua copy counts
 * against the memory cap.
 *
 * Returns what sandbox_eval() returns; FURROW_EINVAL also for errors that
 * the prelude's functions or finish() raise, FURROW_ELIMIT for an input
 * over the bounds, and FURROW_ERR if the prelude itself is broken.
 * prelude must not be NULL.
 */
int sandbox_eval_program(struct value **out, const char *prelude_name,
			 const char *prelude, size_t plen,
			 const char *chunkname, const char *src, size_t len,
			 const struct value *input,
			 const struct sandbox_limits *limits);

/*
 * The same evaluation in a child process (core/child.h): privileges
 * dropped, rlimits set, and a deadline the parent enforces with SIGKILL,
 * so that work Lua does inside C functions (pattern matching with
 * catastrophic backtracking) is stopped too.  The result comes back as a
 * valuecodec frame and is decoded under the same bounds.  This is what
 * furrow uses; sandbox_eval() is the in-process core of it.
 */
int sandbox_eval_isolated(struct value **out, const char *chunkname,
			  const char *src, size_t len,
			  const struct sandbox_limits *limits);

/*
 * sandbox_eval_program() in a child process, as sandbox_eval_isolated().
 * The child inherits input through fork(); nothing is encoded for it.
 */
int sandbox_eval_program_isolated(struct value **out,
				  const char *prelude_name,
				  const char *prelude, size_t plen,
				  const char *chunkname, const char *src,
				  size_t len, const struct value *input,
				  const struct sandbox_limits *limits);

/* The linked Lua's release string, e.g. "Lua 5.4.4". */
const char *sandbox_lua_version(void);

#endif
