/*
 * journal.h - the apply engine's intent journal and history, in the state
 * store (store.h; no LMDB here).
 *
 * Table "journal": one record per app with an operation in flight, keyed
 * by the app name.  The value is compact JSON:
 *
 *   {"op":"update","from":"a","to":"b","commit":"<40 hex>",
 *    "spec_sha256":"<64 hex>","plan_sha256":"<64 hex>","started":<epoch>,
 *    "done":["stage","start"],"doing":"health"}
 *
 * ("from" is "" when the app had no slot yet; "doing" is null between
 * steps.)  Table "history": append-only (the newest LIMIT_HISTORY_KEEP
 * entries are kept), keyed by an 8-byte big-endian
 * sequence number (1, 2, ...), each value compact JSON
 *
 *   {"time":<epoch>,"app":"web","event":"update","from":"a","to":"b",
 *    "commit":"<40 hex>","reason":""}
 *
 * Write-ahead rule.  Every step of an operation is recorded before it
 * runs (journal_step_start) and after it completed (journal_step_done).
 * Each function below is one store_update(): committed and on disk when
 * it returns, so after a crash the journal says exactly which step may
 * have been cut short.  Steps must be idempotent: recovery may run a step
 * whose start was recorded but whose completion was not, or that already
 * ran in full, a second time.
 *
 * Every function returns 0 or a negative FURROW_E* code with the message
 * recorded (error.h).  App names are 1..LIMIT_STORE_KEY_BYTES bytes.
 */
#ifndef FURROW_JOURNAL_H
#define FURROW_JOURNAL_H

#include <stdint.h>

struct store;

enum journal_op {
	JOURNAL_OP_UPDATE,   /* create or update: stage the new spec */
	JOURNAL_OP_ROLLBACK, /* go back to the previous slot on purpose */
	JOURNAL_OP_REMOVE,   /* stop and remove an app no longer desired */
};

/* The steps, in the order an update runs them. */
enum journal_step {
	JOURNAL_STAGE,    /* write the inactive slot (slots.h) */
	JOURNAL_START,    /* start the new slot's service (supervise.h) */
	JOURNAL_HEALTH,   /* health-check it (health.h) */
	JOURNAL_SWITCH,   /* move `current` to it: the commit point */
	JOURNAL_CONFIRM,  /* record the app as applied (plan_record_applied) */
	JOURNAL_STOP_OLD, /* stop the old slot's service */
	JOURNAL_PRUNE,    /* drop what the old slot no longer needs */
	JOURNAL_NSTEPS,
	JOURNAL_NO_STEP = -1,
};

/* How an operation ended (journal_finish). */
enum journal_outcome {
	JOURNAL_COMMITTED, /* it took effect: history event "<op>" */
	JOURNAL_REVERTED,  /* it was undone: history event "<op>-reverted" */
};

enum journal_recovery {
	JOURNAL_ROLL_BACK,
	JOURNAL_ROLL_FORWARD,
};

/* What journal_begin() records.  Strings are never NULL; "" where there
 * is none. */
struct journal_intent {
	enum journal_op op;
	const char *from_slot;    /* "a", "b", or "" (no slot yet) */
	const char *to_slot;      /* "a" or "b"; "" for a removal */
	const char *commit;       /* 40 hex, or "" */
	const char *spec_sha256;  /* 64 hex, or "" (removal) */
	const char *plan_sha256;  /* 64 hex, or "" */
};

/* One in-flight record as read back. */
struct journal_record {
	char app[512];            /* LIMIT_STORE_KEY_BYTES + 1 */
	enum journal_op op;
	char from_slot[2], to_slot[2];
	char commit[41];
	char spec_sha256[65], plan_sha256[65];
	long long started;        /* epoch seconds of journal_begin() */
	unsigned done;            /* bit (1u << step) per step completed */
	int doing;                /* step started, not completed, or
	                             JOURNAL_NO_STEP */
};

/* One history entry.  Strings are never NULL ("" where there is none);
 * when read back (history_list) they are valid only during the callback. */
struct history_entry {
	uint64_t seq;             /* set by history_append(); ignored on input */
	long long time;           /* epoch seconds */
	const char *app;
	const char *event;        /* "update", "update-reverted", ... */
	const char *from_slot, *to_slot;
	const char *commit;
	const char *reason;       /* at most LIMIT_HISTORY_REASON_BYTES */
};

/* "update", "rollback", "remove"; static. */
const char *journal_op_name(enum journal_op op);
/* "stage", "start", "health", "switch", "confirm", "stop-old", "prune";
 * static.  BUG() on anything else. */
const char *journal_step_name(enum journal_step step);
/* The step named name, or JOURNAL_NO_STEP. */
int journal_step_parse(const char *name);

/*
 * Record that app's operation is starting, with no step done.
 * FURROW_EBUSY if app already has a record in flight (finish or recover
 * that one first); FURROW_EINVAL for a malformed intent.
 */
int journal_begin(struct store *st, const char *app,
		  const struct journal_intent *in);

/*
 * Record that step is about to run (it becomes `doing`; a step already
 * done may be started again, steps being idempotent), then
 * fault_point("<step>").  FURROW_ENOENT if app has nothing in flight.
 */
int journal_step_start(struct store *st, const char *app,
		       enum journal_step step);

/*
 * Record that step completed (added to `done`; `doing` is cleared if it
 * was step), then fault_point("<step>-done").  FURROW_ENOENT if app has
 * nothing in flight.
 */
int journal_step_done(struct store *st, const char *app,
		      enum journal_step step);

/*
 * End app's operation: delete its record and append a history entry
 * (event "<op>" or "<op>-reverted", from/to/commit from the record,
 * reason may be NULL) in the same transaction, so a crash leaves either
 * both or neither.  FURROW_ENOENT if app has nothing in flight.
 */
int journal_finish(struct store *st, const char *app,
		   enum journal_outcome outcome, const char *reason);

/* Read app's record into *out.  FURROW_ENOENT (no message) if none. */
int journal_get(struct store *st, const char *app,
		struct journal_record *out);

typedef int (*journal_fn)(const struct journal_record *rec, void *arg);

/*
 * Call fn for every record in flight, in app-name order: what recovery
 * must finish or undo.  The records are read in one snapshot and fn runs
 * after it is closed, so fn may call the journal_* functions.  A non-zero
 * return from fn stops the walk and is returned.  A record this furrow
 * cannot read is FURROW_ESYNTAX naming the app (it is not skipped: the
 * app's state is unknown).
 */
int journal_pending(struct store *st, journal_fn fn, void *arg);

/*
 * What recovery does with an interrupted operation.  The rule: the switch
 * step is the commit point.  If `switch` is done, the new slot is current
 * and was healthy: JOURNAL_ROLL_FORWARD, i.e. run the remaining steps
 * (those not in `done`, in order, re-running `doing`) and finish
 * COMMITTED.  Otherwise - including a crash during the switch, when
 * `current` may point at either slot (the rename is atomic) -
 * JOURNAL_ROLL_BACK: make from_slot current again (or, with no from_slot,
 * remove the app), stop the new slot's service, and finish REVERTED.  The
 * same rule holds for a rollback or removal, whose switch step is the
 * move away from the slot in use.
 */
enum journal_recovery journal_recovery_action(const struct journal_record *rec);

/* Append e (e->seq is ignored) to the history in its own transaction;
 * fields are bounded as described above (FURROW_ELIMIT/EINVAL). */
int history_append(struct store *st, const struct history_entry *e);

typedef int (*history_fn)(const struct history_entry *e, void *arg);

/*
 * Call fn for history entries, newest first: those of app (NULL: all),
 * at most `max` of them (0 or more than LIMIT_HISTORY_LIST:
 * LIMIT_HISTORY_LIST), looking at no more than LIMIT_HISTORY_SCAN of the
 * newest entries.  fn runs inside a read transaction: keep it short and
 * do not call store functions from it.  A non-zero return from fn stops
 * the walk and is returned.  Entries this furrow cannot read are skipped.
 */
int history_list(struct store *st, const char *app, unsigned max,
		 history_fn fn, void *arg);

#endif
