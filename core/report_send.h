/*
 * report_send.h - the report sender: delivers the outbox (outbox.h) to
 * report.url, oldest item first, one POST at a time (http_post()).
 *
 *   - 2xx: the item is acknowledged (outbox_ack) and the next one goes
 *     at once.
 *   - A network error, a timeout (report.timeout), 401, 403, 408, 429, 5xx, any
 *     other status that is not 2xx or 4xx (a 3xx: redirects are not
 *     followed), an unusable token file or URL, or a store error: the
 *     item stays at the head and blocks the ones after it (delivery is
 *     strictly in sequence order); the next try waits with exponential
 *     backoff and full jitter (backoff.h; LIMIT_REPORT_BACKOFF_BASE 1 s
 *     doubling to LIMIT_REPORT_BACKOFF_CAP 300 s), or as long as the
 *     answer's Retry-After asks when that is longer (at most
 *     LIMIT_REPORT_RETRY_AFTER, an hour).
 *   - Any other 4xx: the receiver refused the item for good; it moves to
 *     the dead letters (outbox_dead_letter) with "HTTP <status>: <first
 *     line of the answer>", an error is logged, and the next item goes at
 *     once.
 *
 * Every POST carries "Idempotency-Key: <instance id>-<seq>" (the store's
 * meta instance_id, the item's sequence number; the same key the
 * document carries, report.h), so a receiver drops the duplicates that
 * at-least-once delivery produces (an answer lost after the receiver
 * stored the document).
 *
 * Logging is by state, not by attempt: the first failure (and a failure
 * of another kind: a different status or error) logs a warning
 * "report.send_failed"; further retries of the same kind log at debug
 * level only; the first delivery after failures logs
 * "report.send_recovered".  Each dead letter logs "report.rejected"
 * (error).  The bearer token never reaches a message or a log line.
 *
 * Threads: all network I/O happens on the sender's own thread
 * (sender_start()), so a slow or dead receiver never delays the apply
 * loop.  The store is shared (store.h: it has its own lock, held only
 * inside each outbox call, never across a POST).
 */
#ifndef FURROW_REPORT_SEND_H
#define FURROW_REPORT_SEND_H

#include <signal.h>
#include <stdint.h>

struct config;
struct store;
struct sender;

/*
 * A sender for cfg->report (url, ca_file, token_file, timeout), which
 * must have a url (else BUG).  Copies what it needs: cfg may be freed
 * afterwards.  Never NULL; release it with sender_free().
 */
struct sender *sender_new(const struct config *cfg);

/* Stops the thread if one runs (sender_join()), then frees.  Accepts
 * NULL. */
void sender_free(struct sender *s);

/* What one sender_step() did. */
enum sender_result {
	SENDER_IDLE = 0,     /* the outbox is empty */
	SENDER_WAITING,      /* backing off: nothing was sent */
	SENDER_DELIVERED,    /* the head item got a 2xx and was removed */
	SENDER_REJECTED,     /* the head item got a final 4xx: dead letter */
	SENDER_RETRY,        /* the attempt failed; the item stays, backoff */
};

/*
 * One step, on the caller's thread.  now is monotonic seconds
 * (CLOCK_MONOTONIC), the clock of *next.  If the sender is not backing
 * off, peeks the oldest item and POSTs it, and acts on the answer as
 * described at the top.  *next is always set: now after DELIVERED or
 * REJECTED (call again at once), the retry time after RETRY and WAITING,
 * now + LIMIT_REPORT_IDLE_SECONDS after IDLE.
 *
 * Returns a sender_result, or a negative FURROW_E* code when the store
 * failed (message recorded; the sender backs off as after RETRY, so the
 * call may simply be repeated at *next).  Not while the sender's own
 * thread runs (sender_start()): one caller at a time.
 */
int sender_step(struct sender *s, struct store *st, double now, double *next);

/*
 * Run sender_step() in a loop on a new thread, sleeping until *next in
 * between, woken early by sender_kick().  The thread ends when *stop
 * becomes non-zero (noticed within a second, also during a POST, which
 * is abandoned and retried by the next furrow) or at sender_join().
 * st must stay open until sender_join() returned.  Returns 0, or
 * FURROW_ERR (message recorded) when the thread cannot be created or one
 * already runs.
 */
int sender_start(struct sender *s, struct store *st,
		 volatile sig_atomic_t *stop);

/* A new item was added: if the thread sleeps because the outbox was
 * empty, look now.  It does not cut a backoff short.  Any thread; not
 * from a signal handler. */
void sender_kick(struct sender *s);

/* Ask the thread to stop (an attempt in progress is abandoned) and wait
 * for it.  Nothing if no thread runs. */
void sender_join(struct sender *s);

/* A snapshot of the sender's state, for status and metrics; any thread. */
struct sender_status {
	uint64_t delivered;    /* items acknowledged since sender_new() */
	uint64_t rejected;     /* items dead-lettered */
	uint64_t failures;     /* failed attempts (items kept) */
	unsigned failing;      /* consecutive failed attempts now, 0: none */
	double retry_at;       /* monotonic time of the next try while
	                          failing, else 0 */
	long last_status;      /* HTTP status of the last answer, 0: none */
	char last_error[256];  /* the last failure, "" once delivered again */
};
void sender_get_status(struct sender *s, struct sender_status *out);

/* For tests: the backoff's random source (backoff.h), e.g. a constant
 * close to 1 so that each wait is its ceiling. */
void sender_set_uniform(struct sender *s, double (*uniform)(void *arg),
			void *arg);

#endif
