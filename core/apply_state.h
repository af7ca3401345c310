/*
 * apply_state.h - what the apply engine remembers about each app between
 * passes, in the store's "runtime" table (store.h; no LMDB here).
 *
 * Two kinds of record, keyed by app name:
 *
 *   "<app>"          compact JSON, struct app_runtime: the last health
 *                    verdict, when the active slot last changed, how many
 *                    drift repairs, and the "held" spec - an update that
 *                    failed (or was rolled back by hand) and must not be
 *                    retried in a hot loop.
 *   "<app>/spec/a"   the effective spec (desired spec with the policies'
 *   "<app>/spec/b"   adjustments) a slot was staged from, as a valuecodec
 *                    frame: what a restart of that slot's workload needs
 *                    after the desired state has moved on (a rollback, a
 *                    recovery, a drift repair of an older slot).
 *
 * App names cannot hold '/', so the two kinds never collide.
 *
 * Every function returns 0 or a negative FURROW_E* code with the message
 * recorded (error.h).  Each write is its own store_update().
 */
#ifndef FURROW_APPLY_STATE_H
#define FURROW_APPLY_STATE_H

#include <stddef.h>

struct store;
struct value;

#define APP_RUNTIME_TEXT 512

struct app_runtime {
	char health[16];          /* "healthy", "unhealthy", "stopped",
	                             "unknown" ("" reads as "unknown") */
	char health_msg[APP_RUNTIME_TEXT]; /* why, when not healthy */
	long long checked;        /* epoch of the last check; 0 never */
	long long changed;        /* epoch the active slot last changed */
	long long drift_repairs;  /* repairs made, in all */
	long long restarts;       /* crashed service restarts, in all */
	char held_spec[65];       /* spec sha256 not to retry; "" none */
	char held_commit[41];     /* ... from this commit */
	long long held_at;        /* epoch it was held */
	char held_reason[APP_RUNTIME_TEXT];
	/* Per slot ([0] a, [1] b): "<spec sha256> <commit>" it was last
	 * confirmed with, "" if never or restaged since - what a rollback
	 * may go back to. */
	char confirmed[2][64 + 1 + 40 + 1];
};

/* Read app's record; a missing one reads as zeroes (returns 0).  A
 * record this furrow cannot parse also reads as zeroes, with a warning
 * logged: it is advisory state, never worth failing a pass over. */
int runtime_get(struct store *st, const char *app, struct app_runtime *out);

int runtime_put(struct store *st, const char *app, const struct app_runtime *in);

/* Delete app's record and both slot specs (absent is fine). */
int runtime_del(struct store *st, const char *app);

/* The effective spec slot ('a' or 'b') was staged from. */
int runtime_spec_put(struct store *st, const char *app, int slot,
		     const struct value *spec);

/* FURROW_ENOENT (no message) if none was recorded; else *out is the
 * caller's (value_free()). */
int runtime_spec_get(struct store *st, const char *app, int slot,
		     struct value **out);

/* Call fn for each app with a record, in name order. */
typedef int (*runtime_fn)(const char *app, const struct app_runtime *rt,
			  void *arg);
int runtime_list(struct store *st, runtime_fn fn, void *arg);

/*
 * The last pass, as a JSON object (apply.c writes it: commit, serial,
 * signer, plan_sha256, time, seconds, exit).  FURROW_ENOENT (no message)
 * before the first pass.
 */
int runtime_pass_put(struct store *st, const struct value *pass);
int runtime_pass_get(struct store *st, struct value **out);

#endif
