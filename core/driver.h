/*
 * driver.h - how the apply engine runs an app of a given kind: the seam
 * between the kind-independent engine (apply*.c: slots, journal, health,
 * rollback) and what actually runs an app.
 *
 * A driver works on one slot ('a' or 'b') of one app at a time.  Every
 * operation must be idempotent - recovery after a crash may repeat any of
 * them - and must never touch anything but what belongs to that app and
 * slot.  The engine calls them in this order for an update to slot S from
 * slot O (start-first):
 *
 *   start(S)  ->  running(S) during the health check  ->  [switch]
 *   -> activate()  ->  stop(O)
 *
 * and stop(O) before start(S) for stop-first.  A rollback is the same
 * with the roles swapped.  remove() runs once the app has left the
 * desired state, after both slots are stopped.
 *
 * The table is explicit and const (driver_for()); kinds without a driver
 * in this build (container, systemd) make an update fail with a clear
 * message and leave whatever runs untouched.
 */
#ifndef FURROW_DRIVER_H
#define FURROW_DRIVER_H

#include "appspec.h"

struct config;
struct slots;

/* What a driver gets to work with. */
struct driver_ctx {
	const struct config *cfg;
	const char *app;
	struct slots *slots;        /* the app's directory (slots.h) */
	const struct appspec *spec; /* the slot's effective spec; NULL when
	                               unknown (stop and running must cope) */
	const char *commit;         /* the slot's commit, or "" */
};

struct driver {
	enum appspec_kind kind;
	/* Start slot's workload; 0 if it is running already. */
	int (*start)(const struct driver_ctx *c, int slot);
	/* Stop it; 0 if it was not running. */
	int (*stop)(const struct driver_ctx *c, int slot);
	/* 1 running, 0 not (and why, in *why, at most why_size bytes), or a
	 * negative error. */
	int (*running)(const struct driver_ctx *c, int slot, char *why,
		       size_t why_size);
	/* After `current` moved to the active slot: expose it (the files
	 * driver's target link).  Idempotent. */
	int (*activate)(const struct driver_ctx *c);
	/* The app left the desired state: undo activate(). */
	int (*remove)(const struct driver_ctx *c);
};

/* The driver for kind, or NULL if this build has none (the error is
 * recorded: "kind container is not supported by this furrow yet"). */
const struct driver *driver_for(enum appspec_kind kind);

extern const struct driver driver_service;
extern const struct driver driver_files;

#endif
