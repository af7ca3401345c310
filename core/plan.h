/*
 * plan.h - what furrow would do: the desired apps for this host (from
 * the accepted, re-verified commit) against the applied state recorded in
 * the store, with every change put to the policies furrow.lua declares.
 *
 * A plan is deterministic: the same commit, recorded state, host and
 * `now` give the same plan, byte for byte, and the same plan hash (the
 * SHA-256 of its canonical JSON body, see plan_body_json()).  Nothing
 * here reads the clock; the caller injects `now`.
 */
#ifndef FURROW_PLAN_H
#define FURROW_PLAN_H

#include <stddef.h>

#include "policy.h"
#include "strbuf.h"
#include "value.h"

struct config;
struct store;

enum plan_action {
	PLAN_CREATE,     /* desired here, nothing applied */
	PLAN_UPDATE,     /* desired here, applied with another spec */
	PLAN_UNCHANGED,  /* desired here, applied with this spec */
	PLAN_REMOVE,     /* applied, no longer desired on this host */
};

struct plan_inputs {
	const char *commit;      /* the accepted commit, 40 hex */
	long long commit_time;   /* its committer time, epoch seconds */
	const char *signer;      /* its signer's principal; NULL: unknown */
	long long now;           /* injected clock, epoch seconds */
};

struct plan_item {
	char *app;
	char *kind;                 /* "container", ...; NULL for a removal */
	enum plan_action action;
	enum policy_verdict verdict;
	char *reason;               /* NULL when no policy gave one */
	int has_until;              /* defer with a time */
	long long until;
	char *policy;               /* the deciding policy; NULL if none */
	char policy_sha256[65];     /* "" if none */
	char spec_sha256[65];       /* desired spec; "" for a removal */
	char current_sha256[65];    /* applied spec; "" if none */
	/* Fields policies adjusted (merged, later policies win), e.g.
	 * { strategy = "stop-first" }; NULL if none.  Not kept for a denied
	 * change.  Apply overlays it on the spec. */
	struct value *adjust;
	/* The desired spec as furrow.lua wrote it (a copy; what spec_sha256
	 * covers); NULL for a removal.  Not part of the plan's JSON. */
	struct value *spec;
};

struct plan {
	char commit[41];
	long long commit_time;
	char *signer;
	int has_serial;
	long long serial;
	long long now;
	char *host;
	struct plan_item *items;    /* in apply order (see plan_build) */
	size_t count;
	size_t n_create, n_update, n_remove, n_unchanged, n_deferred, n_denied;
	char sha256[65];            /* of plan_body_json() */
};

/*
 * Build the plan for the commit in->commit: re-read and re-verify it
 * (sync_read_verified()), evaluate furrow.lua, validate its apps, keep
 * those selected for this host's labels, compare them with the "apps"
 * table of st (NULL: nothing applied), and run every declared policy in
 * declaration order over the changes (unchanged apps are not shown to
 * policies).  Items come in apply order: desired apps in dependency
 * order, then removals in reverse name order.  Verdicts combine across
 * policies as deny > defer > allow; the first deny keeps its reason, of
 * two defers the later one (open-ended latest of all) wins.
 * On success *out belongs to the caller (plan_free()).  Returns 0,
 * FURROW_EVERIFY (the commit no longer verifies), or another error with
 * the message recorded (bad furrow.lua or app spec, a failing policy).
 */
int plan_build(struct plan **out, const struct config *cfg,
	       struct store *st, const struct plan_inputs *in);

/*
 * Fold one policy's decision for it->app into the item (the rules of
 * plan_build()).  A decision the policy did not make (decided == 0) is
 * ignored.
 */
void plan_combine(struct plan_item *it, const struct policy_decision *d);

/* The canonical JSON body (compact, keys sorted, no hash) that the plan
 * hash covers; the README's "Plan" section documents it. */
void plan_body_json(struct strbuf *sb, const struct plan *p);

/* The plan as --json prints it: the body plus "plan_sha256", one line. */
void plan_json(struct strbuf *sb, const struct plan *p);

/* "create", "update", "unchanged", "remove". */
const char *plan_action_name(enum plan_action a);

/*
 * Record that app now runs spec_sha256 (64 hex) from commit (40 hex) in
 * the store's "apps" table; apply calls this after a confirmed update.
 * spec_sha256 NULL removes the record (after a removal).
 */
int plan_record_applied(struct store *st, const char *app,
			const char *spec_sha256, const char *commit);

/*
 * The applied state as a value tree { [app] = { spec_sha256 =, commit = } },
 * sorted; st NULL gives an empty table.  Caller frees *out.
 */
int plan_applied_load(struct value **out, struct store *st);

/* SHA-256 hex of a spec value's canonical encoding (valuecodec). */
void plan_spec_sha256(char out[65], const struct value *spec);

/* The same over the encoding followed by "\nfiles " and files: what an
 * app with `files` or `unit` is hashed as, files being "<id> <id>", the
 * Git ids of its files directory and unit file in the commit ("-" for
 * none), so that a change of those alone is an update. */
void plan_spec_files_sha256(char out[65], const struct value *spec,
			    const char *files);

/* Free a plan; accepts NULL. */
void plan_free(struct plan *p);

#endif
