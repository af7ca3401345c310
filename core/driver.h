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
 * Before any of that, while nothing has been touched, prepare() (if the
 * driver has one) fetches what the new slot needs from elsewhere - a
 * container image - so that a pull that stalls or fails leaves the
 * running slot alone, also under stop-first.
 *
 * The table is explicit and const (driver_for()): service, files,
 * systemd, container.
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
	/* NULL, or fetch what start() will need, touching nothing that
	 * runs (a container image); failing here fails the update before
	 * it begins. */
	int (*prepare)(const struct driver_ctx *c);
	/* NULL, or run argv inside slot's workload for an exec health
	 * check (health.h: struct health_env exec). */
	int (*exec)(const struct driver_ctx *c, int slot, char *const *argv,
		    unsigned timeout_ms, int *exit_code, char *out,
		    size_t out_size);
};

/* The driver for kind, or NULL if this build has none (the error is
 * recorded: "kind container is not supported by this furrow yet"). */
const struct driver *driver_for(enum appspec_kind kind);

extern const struct driver driver_service;
extern const struct driver driver_files;
extern const struct driver driver_container;
extern const struct driver driver_systemd;

#endif
