/*
 * report.h - the documents furrow sends upstream (README "Reports"):
 * a report of the host's whole state, and events.  Both are built here
 * as compact JSON and put into the outbox (outbox.h); the sender
 * (report_send.h) delivers them.  Nothing here touches the network.
 *
 * Every document carries "seq", the outbox sequence number (it only
 * grows, so a receiver sees gaps only where the outbox dropped items for
 * room, which the next report counts), and "idempotency_key",
 * "<instance id>-<seq>" (also sent as the Idempotency-Key header): a
 * document delivered twice after a cut connection has the same key.
 */
#ifndef FURROW_REPORT_H
#define FURROW_REPORT_H

#include <stdint.h>

#include "outbox.h"

struct config;
struct store;

/* The document schema version, "schema" in every document. */
#define REPORT_SCHEMA 1

/*
 * Build a report of the host's state and add it to the outbox as kind
 * (OUTBOX_REPORT after a change, OUTBOX_HEARTBEAT when nothing changed).
 * Returns 0 or an error (the outbox refused it).
 */
int report_enqueue(const struct config *cfg, struct store *st,
		   enum outbox_kind kind);

/*
 * Add an event: name is one of "update-started", "update-succeeded",
 * "update-rolled-back", "update-failed", "removed", "drift-repaired",
 * "policy-deferred", "policy-denied", "verify-failed"; app and commit
 * may be NULL; message may be NULL.  Logged (not returned) on failure:
 * an event that cannot be queued must not fail the work it describes.
 */
void report_event(const struct config *cfg, struct store *st,
		  const char *name, const char *app, const char *commit,
		  const char *message);

/* The outbox bounds from the config (report.outbox_*). */
void report_limits(const struct config *cfg, struct outbox_limits *lim);

#endif
