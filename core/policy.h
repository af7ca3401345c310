/*
 * policy.h - run one policy over the changes a plan proposes.
 *
 * A policy is a Lua file (a repository file, or "std:NAME" from the
 * standard library in policies/, built into the binary) that returns a
 * function of (ctx, changes, options).  For each change it may allow,
 * deny (with a reason), defer (until a time, with a reason) or adjust a
 * few whitelisted fields; a change it says nothing about is allowed.
 * The file runs after furrow's policy prelude (lua/policy.lua, which
 * documents the helpers), in the isolated sandbox, under the
 * LIMIT_POLICY_* caps (core/limits.h).
 *
 * Time and randomness are injected: the only clock a policy sees is
 * ctx.now, math.random is seeded the same every run, so the same inputs
 * give the same decisions, byte for byte.
 *
 * The input furrow hands over, all plain value trees (value.h):
 *
 *   ctx      a table; `now` (integer epoch seconds) is required, the rest
 *            is what the standard policies read:
 *              now = 1700000000,
 *              host = { id = "edge-042", labels = { site = "pune" } },
 *              commit = { id = "<hex>", time = <epoch s>, signer = "..." },
 *              serial = 7,
 *              apps = { [app] = <current state> },
 *              freeze_file = true   (FREEZE in the verified tree, with a
 *                                   FREEZE.sig by a policy signer)
 *   changes  a list of tables { app = NAME, action = "create" | "update"
 *            | "remove", spec = {...}, current = {...} }, one per app;
 *            app names are 1 to 63 bytes without NUL
 *   options  the policy's options from furrow.lua (NULL: an empty table)
 *
 * Adjustable fields (the table in core/policy.c is the only place they
 * are defined; the prelude gets it as input): strategy ("start-first"
 * or "stop-first"), health.interval (seconds above 0), health.settle
 * (seconds from 0), health.retries (an integer from 0), with the upper
 * bounds of app specs (LIMIT_APP_SECONDS, LIMIT_APP_RETRIES).
 */
#ifndef FURROW_POLICY_H
#define FURROW_POLICY_H

#include <stddef.h>

#include "strbuf.h"
#include "value.h"

/* Verdicts, weakest first: of two for one app, the stronger wins. */
enum policy_verdict {
	POLICY_ALLOW,
	POLICY_DEFER,
	POLICY_DENY,
};

#define POLICY_PRELUDE_NAME "furrow:policy.lua"
#define POLICY_STD_PREFIX "std:"

struct policy_decision {
	char *app;
	enum policy_verdict verdict;
	int decided;            /* 0: the policy said nothing (allowed) */
	char *reason;           /* NULL for an allow without one */
	int has_until;          /* defer with a time; 0: open-ended */
	long long until;        /* epoch seconds when has_until */
	struct value *adjust;   /* NULL, or e.g. { health = { settle = 30 } } */
	/* Which policy decided: its name and the SHA-256 (hex) of its
	 * source, copied into every decision for the audit trail. */
	char *policy;
	char sha256[65];
};

struct policy_decisions {
	char *policy;                       /* as passed to policy_run() */
	char sha256[65];                    /* hex SHA-256 of the source */
	struct policy_decision *decisions;  /* one per change, in order */
	size_t count;
};

/*
 * Run the policy src (len bytes) called name ("std:freeze",
 * "policies/site-window.lua"; used in messages and recorded) over
 * changes.  On success *out belongs to the caller
 * (policy_decisions_free()) and holds one decision per change, in the
 * order of changes.  Returns 0, or
 *   FURROW_ESYNTAX  the policy does not compile;
 *   FURROW_EINVAL   it fails at run time, returns no function, misuses a
 *                   helper (unknown app, bad reason or time, a field that
 *                   may not be adjusted), or an options check of a
 *                   standard policy fails; or the inputs are malformed
 *                   (no integer ctx.now, a bad change list);
 *   FURROW_ELIMIT   file size, memory, instructions, time, or a result
 *                   over the bounds;
 *   or what child_run() returns; with the message recorded, starting
 *   with "name:" (and the line, where Lua knows it).
 * Inputs are borrowed; options may be NULL.
 */
int policy_run(struct policy_decisions **out, const char *name,
	       const char *src, size_t len, const struct value *ctx,
	       const struct value *changes, const struct value *options);

/*
 * The source of a standard policy: name is "std:NAME" for
 * policies/NAME.lua.  NULL (and *len untouched) if there is none.  The
 * bytes are static and NUL-terminated.
 */
const char *policy_builtin(const char *name, size_t *len);

/* "allow", "defer", "deny". */
const char *policy_verdict_name(enum policy_verdict v);

/*
 * The decisions as a value tree, for JSON and the audit trail:
 *   { policy = NAME, sha256 = HEX,
 *     decisions = { { app =, verdict =, decided = <bool>, reason = ?,
 *                     ["until"] = ?, adjust = ? }, ... } }
 * The caller frees it with value_free().
 */
struct value *policy_decisions_to_value(const struct policy_decisions *d);

/* Free decisions; accepts NULL. */
void policy_decisions_free(struct policy_decisions *d);

#endif
