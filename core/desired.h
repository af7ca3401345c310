/*
 * desired.h - what a desired-state file (furrow.lua) declares, as far as
 * `furrow sync` needs it before anything else runs: the serial and the
 * policies to load, and the names of the apps.
 *
 * furrow.lua runs in the Lua sandbox after furrow's built-in DSL prelude
 * (lua/desired.lua, embedded at build time), in a confined child process,
 * under the LIMIT_DESIRED_* caps (core/limits.h).  App specs are not
 * checked here beyond being tables; core/appspec.h validates them.
 */
#ifndef FURROW_DESIRED_H
#define FURROW_DESIRED_H

#include <stddef.h>

#include "strbuf.h"
#include "value.h"

struct desired_policy {
	/* "std:NAME" for a standard policy, else a checked relative path
	 * of a .lua file in the repository (repopath.h rules). */
	char *name;
	/* The options table; an empty table when none were given. */
	struct value *options;
};

struct desired_summary {
	int has_serial;            /* 0 if furrow.lua sets no serial */
	long long serial;          /* >= 0 when has_serial */
	struct desired_policy *policies; /* in declaration order */
	size_t policy_count;
	size_t app_count;
	char **app_names;          /* in declaration order, unique */
	/* Parallel to app_names: the file declaring each app (the name
	 * given to the load, or a file it included; never NULL), its line
	 * there (0 when Lua knew none), and its spec table (VALUE_TABLE,
	 * never NULL), as written; core/appspec.h reads all three. */
	char **app_files;
	int *app_lines;
	struct value **app_specs;
};

/*
 * Evaluate the desired-state text src (len bytes; name, e.g.
 * "furrow.lua", is used in messages) and summarise it.  On success *out
 * belongs to the caller (desired_summary_free()).  Returns 0, or
 * FURROW_ESYNTAX (does not compile), FURROW_EINVAL (a runtime error, a bad
 * declaration or serial; messages carry "name:line:" where Lua knows the
 * line), FURROW_ELIMIT (file size, memory, instructions, time, count of
 * policies or apps), or what child_run() returns, with the message
 * recorded.
 */
int desired_summary_load(struct desired_summary **out, const char *name,
			 const char *src, size_t len);

/*
 * desired_summary_load() with the files src may include: files is NULL
 * (none) or a VALUE_TABLE of { [path] = text }, the .lua files of the
 * same tree, borrowed for the call.  At most LIMIT_DESIRED_INCLUDE_FILES
 * files, each at most LIMIT_DESIRED_FILE_BYTES and in all at most
 * LIMIT_DESIRED_INCLUDE_BYTES (FURROW_ELIMIT otherwise); keys must be
 * repository paths (repopath.h rules).  An include error (missing file,
 * a file included twice, a cycle, nesting deeper than 8, an included
 * file that does not compile) is FURROW_EINVAL naming the file and line.
 */
int desired_summary_load_tree(struct desired_summary **out, const char *name,
			      const char *src, size_t len,
			      const struct value *files);

/*
 * The second half of desired_summary_load(), for callers that evaluate
 * in-process (the fuzz target): check and summarise root, the value
 * sandbox_eval_program() made of the prelude's finish().  Values may be
 * moved out of root; the caller still frees it.  Same returns.
 */
int desired_summary_from_value(struct desired_summary **out,
			       const char *name, struct value *root);

/* The built-in prelude (lua/desired.lua) and, for messages, its name. */
const char *desired_prelude(size_t *len);
#define DESIRED_PRELUDE_NAME "furrow:desired.lua"

/*
 * Append sum as text, one line each, in declaration order:
 *   serial 7            (or "serial none")
 *   policy NAME OPTIONS (options as compact JSON)
 *   app NAME
 */
void desired_summary_format(struct strbuf *sb,
			    const struct desired_summary *sum);

/* Free a summary; accepts NULL. */
void desired_summary_free(struct desired_summary *sum);

/* True if p names a policy file in the repository, false for "std:". */
int desired_policy_is_repo_file(const struct desired_policy *p);

#endif
