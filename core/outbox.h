/*
 * outbox.h - store and forward for reports and events: every document
 * furrow sends upstream is first committed here (the store's "outbox"
 * table, store.h), then sent by the report sender, and deleted only when
 * the receiver acknowledged it (2xx).  A kill at any moment loses nothing
 * committed here: delivery is at least once, and the receiver removes
 * duplicates by the idempotency key.
 *
 * Items are keyed by their sequence number (8 bytes, big-endian: key
 * order is send order), which only grows, also across restarts and after
 * the outbox was emptied (the last one is kept in "meta", and a new one is
 * also above every key in both tables).  The value is a small header and
 * the document: kind (1 byte), enqueue time (8 bytes, signed big-endian
 * epoch seconds), body.
 *
 * Bounds: at most max_items items and max_bytes bytes of bodies.  Adding
 * past either drops old items to make room, in this order: the oldest
 * heartbeat first, then the oldest report, events last (an event is only
 * dropped when the outbox holds nothing else).  Every dropped item is
 * counted (per kind, persistently), so that the next report can say how
 * many were lost.  A single body larger than max_bytes is refused
 * (FURROW_ELIMIT).  An add that must make room scans the outbox (the
 * others do not: "meta" keeps a running count and byte total).
 *
 * Dead letters: an item the receiver refused for good (a 4xx other than
 * 408/429) is moved to the "deadletter" table with the reason, so it is
 * neither retried forever nor silently lost; that table keeps the newest
 * OUTBOX_DEADLETTER_KEEP items (the highest sequence numbers).  An item
 * this furrow cannot read (a short value, an unknown kind: an internal
 * FURROW_ESYNTAX naming its sequence number) can never be sent either:
 * outbox_peek(), and an add that must make room, move it there with the
 * reason "unreadable outbox item: <what is wrong>", counted as dead.  A
 * dead letter is keyed like the item; its value is kind (1 byte; 0xff for
 * an unreadable item, whose body is then its whole raw value), enqueue
 * time (8), dead-letter time (8), reason length (2, big-endian), reason,
 * body.
 *
 * Every function is one store transaction (store.h: the store is shared
 * by the daemon's threads; outbox_peek() may take a second, see there),
 * returns 0 or a negative FURROW_E* code with the message recorded
 * (error.h).
 */
#ifndef FURROW_OUTBOX_H
#define FURROW_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

struct store;
struct strbuf;

#define OUTBOX_DEADLETTER_KEEP 100

enum outbox_kind {
	OUTBOX_HEARTBEAT,  /* a periodic report with nothing new */
	OUTBOX_REPORT,     /* a report after a change */
	OUTBOX_EVENT,      /* update started/succeeded/rolled back, ... */
	OUTBOX_NKINDS,
};

/* A NULL struct outbox_limits * means both defaults. */
struct outbox_limits {
	size_t max_items;  /* 0: OUTBOX_DEFAULT_ITEMS */
	size_t max_bytes;  /* 0: OUTBOX_DEFAULT_BYTES */
};

#define OUTBOX_DEFAULT_ITEMS 10000
#define OUTBOX_DEFAULT_BYTES (16u * 1024 * 1024)

/* One item as read back (outbox_peek). */
struct outbox_item {
	uint64_t seq;
	enum outbox_kind kind;
	long long enqueued;        /* epoch seconds */
	struct strbuf *body;       /* the caller's buffer, replaced */
};

/* depth, bytes and oldest are counted afresh by outbox_stats(), so they
 * are right even if the running totals (see outbox_add) were not. */
struct outbox_stats {
	uint64_t depth;            /* items waiting (unreadable ones too) */
	uint64_t bytes;            /* their bodies */
	uint64_t last_seq;         /* highest sequence ever given, 0 none */
	uint64_t dropped[OUTBOX_NKINDS]; /* dropped for room, ever */
	uint64_t dead;             /* moved to dead letters, ever */
	long long oldest;          /* enqueue time of the oldest waiting, 0 */
};

/* "heartbeat", "report", "event"; static.  BUG() on anything else. */
const char *outbox_kind_name(enum outbox_kind kind);

/*
 * Give body the next sequence number (into *seq if not NULL) and commit
 * it, dropping old items first if the bounds require (see the top).
 * make_body, when not NULL, is called inside the transaction with the
 * sequence number to produce the body (so a document can carry its own
 * sequence number); then body/len are ignored.  make_body gets an empty
 * buffer and may be called more than once for one add (the transaction
 * reruns when the map grows, store.h), always with the same number: it
 * must only fill the buffer.  It runs with the store locked: it must not
 * call the store.  A body (given or made) over max_bytes is
 * FURROW_ELIMIT and nothing is added; a bad kind is a BUG().
 */
typedef void (*outbox_body_fn)(struct strbuf *body, uint64_t seq, void *arg);
int outbox_add(struct store *st, const struct outbox_limits *lim,
	       enum outbox_kind kind, const char *body, size_t len,
	       outbox_body_fn make_body, void *arg, uint64_t *seq);

/*
 * The oldest waiting item into *out (out->body must point to the caller's
 * strbuf, whose contents are replaced); FURROW_ENOENT (no message) if the
 * outbox is empty.  The item stays until outbox_ack() or
 * outbox_dead_letter().  One read transaction; if the oldest item is
 * unreadable, a write transaction then moves it (and the unreadable ones
 * right behind it) to the dead letters and returns the next readable
 * one, so peek never sticks on a bad item (a read-write store is then
 * required).
 */
int outbox_peek(struct store *st, struct outbox_item *out);

/* Delete item seq (delivered).  Absent is fine (already acknowledged,
 * dropped or dead-lettered): 0. */
int outbox_ack(struct store *st, uint64_t seq);

/* Move item seq to the dead letters with why (a one-line reason, at
 * most LIMIT_OUTBOX_REASON_BYTES, else FURROW_ELIMIT; NULL: "").
 * FURROW_ENOENT (no message) if there is no item seq. */
int outbox_dead_letter(struct store *st, uint64_t seq, const char *why);

/* What the outbox holds and has lost, in one read transaction that
 * reads the head of every item (about 150 us for 10,000 items). */
int outbox_stats(struct store *st, struct outbox_stats *out);

#endif
