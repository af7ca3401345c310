/*
 * store.h - furrow's durable state store, an LMDB environment under
 * <state_dir>/db/.  This is the only module that talks to LMDB.
 *
 * Every function returns 0 or a negative FURROW_E* code with the message
 * recorded (error.h), except where it says otherwise.
 *
 * Caveats, inherited from LMDB and not optional:
 *
 *  - No fork(): a struct store (and anything obtained from it) must not be
 *    used in a child process after fork().  A child may open the state dir
 *    afresh with store_open(); it must never touch, or store_free(), the
 *    parent's handle (exit with _exit()).
 *  - No network filesystems: LMDB's locking and mmap coherence do not hold
 *    on NFS, SMB/CIFS and the like; store_open() refuses them
 *    (FURROW_ENETFS).
 *  - Long readers grow the file: pages freed by writers cannot be reused
 *    while an older read transaction is still open, so keep store_view()
 *    callbacks short.
 *  - One open per process: a state dir may be open at most once in a
 *    process at a time (LMDB's fcntl locks are per process); a second
 *    store_open() of the same dir fails with FURROW_EBUSY.
 *  - Threads: every call on a struct store takes its internal (recursive)
 *    lock, so threads of one process may share it; a store_view() or
 *    store_update() callback runs with the lock held, so keep it short.
 *    Read transactions are not tied to a thread (MDB_NOTLS).
 *
 * Durability is full: every committed store_update() is on disk
 * (fdatasync) when it returns; only store_update_deferred() asks for less.
 */
#ifndef FURROW_STORE_H
#define FURROW_STORE_H

#include <stddef.h>

struct strbuf;
struct store;
struct store_txn;

/* The schema this furrow writes; see the migration table in store.c. */
#define STORE_SCHEMA_VERSION 7u

/* The backup store's schema (STORE_KIND_BACKUP). */
#define STORE_BACKUP_SCHEMA_VERSION 2u

/* Which store: the state store <state_dir>/db/ (lock furrow.lock), or the
 * backup store <state_dir>/backup/ (lock backup.lock), a separate LMDB
 * environment with its own tables, schema and writer lock. */
enum store_kind {
	STORE_KIND_STATE = 0,
	STORE_KIND_BACKUP = 1,
};

enum store_mode {
	STORE_READ_WRITE = 0,
	STORE_READ_ONLY = 1,
};

struct store_options {
	enum store_mode mode;
	/* Map size for a new store (0: STORE_MAP_INITIAL_BYTES).  An existing
	 * store keeps its larger recorded size. */
	size_t initial_map_bytes;
	/* The map never grows past this (0: STORE_MAP_MAX_BYTES). */
	size_t max_map_bytes;
	enum store_kind kind;   /* 0: the state store */
};

/*
 * Open (READ_WRITE: creating if missing) the store under state_dir.
 * opts may be NULL for read-write with default sizes.  *out belongs to
 * the caller; release it with store_free().
 *
 * READ_WRITE creates state_dir and state_dir/db (both 0700) if missing,
 * takes an exclusive non-blocking flock on state_dir/furrow.lock (held
 * until store_free()), creates the database at schema 1 if it is new, and
 * migrates it to STORE_SCHEMA_VERSION in one write transaction.
 * READ_ONLY takes no lock, creates nothing, and requires a database that
 * is already at STORE_SCHEMA_VERSION.  Both clear stale reader slots left
 * by crashed processes (mdb_reader_check).
 *
 * Errors: FURROW_EBUSY (another furrow holds the lock; the message names
 * its pid; or this process already has the dir open), FURROW_ENETFS
 * (network filesystem), FURROW_ENOENT (READ_ONLY and no database yet),
 * FURROW_EVERSION (written by a newer furrow; or READ_ONLY on a store that
 * still needs migrating), FURROW_ESYNTAX (schema version missing or
 * garbled), FURROW_EIO and others.  On any error nothing was written to
 * the database.
 */
int store_open(struct store **out, const char *state_dir,
	       const struct store_options *opts);

/* Close the environment and release the lock.  Accepts NULL.  No
 * transaction may be open. */
void store_free(struct store *st);

/*
 * A transaction callback.  Returns 0 to commit (store_update) or a
 * negative FURROW_E* code (with message) to abort; that code is returned
 * by store_update()/store_view().  A store_update() callback may run more
 * than once (after the map grows), so it must have no effects outside the
 * transaction that a re-run would break.
 */
typedef int (*store_txn_fn)(struct store_txn *txn, void *arg);

/*
 * Run fn in a write transaction and commit it if fn returns 0.  If fn or
 * the commit runs out of map space, the transaction is aborted, the map
 * doubled (up to max_map_bytes) and fn run again; at the maximum this is
 * FURROW_ELIMIT and the store keeps its last committed state.  Must not be
 * nested inside another store_update() (BUG), and cannot grow the map
 * while a store_view() is open in this process (FURROW_ELIMIT).  BUG() on
 * a READ_ONLY store.
 */
int store_update(struct store *st, store_txn_fn fn, void *arg);

/*
 * store_update() with its durability deferred to the next store_update():
 * atomic and consistent as ever, its data flushed, but its commit record
 * (LMDB's meta page) written without a flush of its own.  The next commit's
 * flush carries it to disk; a system crash (not a process crash) before
 * then undoes it and leaves the store as it was.  For steps that a later,
 * durable commit completes (a backup's chunk batches, then its record): a
 * device flush less per step.
 */
int store_update_deferred(struct store *st, store_txn_fn fn, void *arg);

/* Run fn in a read-only transaction (a consistent snapshot). */
int store_view(struct store *st, store_txn_fn fn, void *arg);

/*
 * Inside a transaction.  table names one of the tables listed in store.c
 * ("meta"); any other name is a BUG().  Keys are 1..LIMIT_STORE_KEY_BYTES
 * bytes (else FURROW_EINVAL / FURROW_ELIMIT), values at most
 * LIMIT_STORE_VALUE_BYTES (FURROW_ELIMIT).
 */

/* *val points into the map: valid until the transaction ends or, in a
 * write transaction, until the next store_put()/store_del().  Do not
 * write through it.  FURROW_ENOENT (no message recorded) if absent. */
int store_get(struct store_txn *txn, const char *table, const void *key,
	      size_t klen, const void **val, size_t *vlen);

/* Insert or overwrite.  BUG() in a read-only transaction. */
int store_put(struct store_txn *txn, const char *table, const void *key,
	      size_t klen, const void *val, size_t vlen);

/* Delete; FURROW_ENOENT (no message recorded) if absent.  BUG() in a
 * read-only transaction. */
int store_del(struct store_txn *txn, const char *table, const void *key,
	      size_t klen);

typedef int (*store_foreach_fn)(const void *key, size_t klen,
				const void *val, size_t vlen, void *arg);

/*
 * Call fn for every key in table that starts with prefix (plen 0: every
 * key), in key order (bytewise).  Pointers are valid as for store_get().
 * fn must not modify table.  A non-zero return from fn stops the walk and
 * is returned; otherwise 0.
 */
int store_foreach(struct store_txn *txn, const char *table,
		  const void *prefix, size_t plen, store_foreach_fn fn,
		  void *arg);

/* Like store_foreach() over the whole table, in reverse key order (last
 * key first).  Same rules for fn and its return. */
int store_foreach_rev(struct store_txn *txn, const char *table,
		      store_foreach_fn fn, void *arg);

/* One-shot read: replace out's contents with the value (a copy, so it
 * outlives the transaction).  FURROW_ENOENT (no message) if absent. */
int store_get_copy(struct store *st, const char *table, const void *key,
		   size_t klen, struct strbuf *out);

/* One-shot write in its own store_update(). */
int store_put1(struct store *st, const char *table, const void *key,
	       size_t klen, const void *val, size_t vlen);

/* The schema version recorded in the store. */
int store_schema_version(struct store *st, unsigned *out);

/* 1 if st was opened read-write. */
int store_writable(const struct store *st);

/* The current map size in bytes (for tests and diagnostics). */
int store_map_size(struct store *st, size_t *out);

/*
 * Drop the map's pages from this process's resident set (they stay in
 * the page cache).  Reading through a large store touches - and, with
 * the kernel's fault-around, maps - pages that then count as resident
 * until unmapped; bulk readers (backups) call this now and then to keep
 * their footprint flat.  Pointers from store_get() stay valid.
 */
void store_trim_resident(struct store *st);

/* The linked LMDB's version, "0.9.24"; static, never NULL. */
const char *store_lmdb_version(void);

/*
 * Whether a statfs() f_type is a network (or cluster) filesystem that the
 * store refuses; if so and name is not NULL, *name is a static
 * human-readable name ("NFS").  Returns 1 or 0.  FUSE is not refused.
 */
int store_fs_is_network(long f_type, const char **name);

/*
 * FOR TESTS ONLY: create a new store under state_dir (which must not hold
 * one yet) laid out as schema 1 ("meta" holding only schema_version) but
 * recording `version`, without migrating, as an older or newer furrow
 * would have left it.  Takes and releases the lock like store_open().
 */
int store_create_at_version(const char *state_dir, unsigned version);

#endif
