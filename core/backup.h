/*
 * backup.h - encrypted, deduplicated snapshots of app data (the backup
 * store under <state_dir>/backup/), restores, verification, retention,
 * drills and offsite copies.  Format and guarantees: backup_int.h and
 * README "Backups".
 *
 * Every operation that writes takes the backup store's writer lock
 * (<state_dir>/backup.lock) for its whole length, so snapshots, prunes
 * and garbage collection never overlap (collection must not sweep a
 * chunk a running snapshot is about to reference).  Reading (list,
 * status) needs no lock.
 */
#ifndef FURROW_BACKUP_H
#define FURROW_BACKUP_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct backup_store;

#define BACKUP_TAG_BYTES 24

/* A snapshot, as listed. */
struct backup_info {
	uint64_t id;
	char app[64];
	long long time;             /* when it was taken (Unix seconds) */
	char tag[BACKUP_TAG_BYTES]; /* "scheduled", "manual", "pre-update",
	                               "failed-update", "before-rollback" */
	char commit[41];            /* the app's commit then, or "" */
	uint64_t files;             /* entries of any type */
	uint64_t bytes;             /* file bytes */
	/* Only from backup_take(): */
	uint64_t new_chunks, new_bytes; /* chunks stored by this snapshot,
	                                   and their sealed bytes */
	uint64_t read_bytes;        /* file bytes actually read (the rest
	                               came from the unchanged-file cache) */
	double seconds;
};

/* Open the backup store of cfg's state_dir with cfg's backup key.
 * writable: take the writer lock, waiting up to wait_seconds for another
 * furrow's operation to finish (FURROW_EBUSY after).  Refuses a store
 * written under another key (FURROW_EVERIFY) and a missing
 * backup.key_file (FURROW_EINVAL).  Read-only needs an existing store
 * (FURROW_ENOENT: no snapshot yet). */
int backup_open(struct backup_store **out, const struct config *cfg,
		int writable, unsigned wait_seconds);
void backup_close(struct backup_store *bs);

/* What to snapshot. */
struct backup_request {
	const char *app;
	const char *data_dir;        /* apps/APP/data */
	char *const *paths;          /* relative to data_dir */
	size_t npaths;
	const char *tag;
	const char *commit;          /* may be NULL */
};

/* Take a snapshot; out describes it.  Unchanged files (same size, mtime,
 * ctime and inode as in the app's previous snapshot) are not read again;
 * chunks already stored are not stored again.  Nothing but unreferenced
 * chunks is left behind by a failure or a crash. */
int backup_take(struct backup_store *bs, const struct backup_request *req,
		struct backup_info *out);

/* Snapshots, oldest first; app NULL: all.  *out is freed with free(). */
int backup_list(struct backup_store *bs, const char *app,
		struct backup_info **out, size_t *n);

/* Find a snapshot of app: "latest" or a decimal id. */
int backup_find(struct backup_store *bs, const char *app, const char *which,
		struct backup_info *out);

struct backup_restore_stats {
	uint64_t files, bytes, chunks;
	double seconds;
};

/* Restore snapshot id (which must belong to app) into to_dir, which must
 * not exist: the tree is written into a hidden sibling first and renamed
 * into place only when whole, so a failure leaves no partial output. */
int backup_restore(struct backup_store *bs, const char *app, uint64_t id,
		   const char *to_dir, struct backup_restore_stats *stats);

/* The same from the offsite copy alone (no local store needed): cfg's
 * key, backup.offsite.url, token and CA.  which: "latest" or an id. */
int backup_restore_offsite(const struct config *cfg, const char *app,
			   const char *which, const char *to_dir,
			   struct backup_restore_stats *stats,
			   struct backup_info *info);

/* The snapshots of the offsite copy (app NULL: all), oldest first. */
int backup_list_offsite(const struct config *cfg, const char *app,
			struct backup_info **out, size_t *n);

/* Put the app's data back to snapshot id in place: each snapshotted path
 * under data_dir is replaced (restored beside it, then exchanged with
 * renameat2(RENAME_EXCHANGE), then the old copy removed). */
int backup_restore_in_place(struct backup_store *bs, uint64_t id,
			    const char *data_dir);

/* Verification; problems are reported through fn, one line each, naming
 * the snapshot, file or chunk. */
typedef void (*backup_problem_fn)(void *arg, const char *line);
struct backup_verify_result {
	uint64_t snapshots, chunks_checked, chunks_total, problems;
	uint64_t removed;           /* corrupt chunks dropped from the store,
	                               so the next snapshot stores them anew */
};
/* read_percent 0: structure only (every record opens, every tree
 * decodes, every referenced chunk exists); 1..100: also open and check
 * that share of chunks (all at 100).  A chunk found corrupt is dropped
 * (read-write store), so the next snapshot of a file that still holds
 * its bytes stores them afresh instead of reusing the broken copy.  Each
 * app's newest snapshot found whole becomes its newest verified one
 * (RPO), lowered too when a newer one turned out bad. */
int backup_verify(struct backup_store *bs, unsigned read_percent,
		  backup_problem_fn fn, void *arg,
		  struct backup_verify_result *r);
int backup_verify_offsite(const struct config *cfg, unsigned read_percent,
			  backup_problem_fn fn, void *arg,
			  struct backup_verify_result *r);

/* Retention. */
struct backup_keep {
	int last, daily, weekly;
};
struct backup_prune_result {
	uint64_t snapshots_removed, chunks_removed, bytes_freed;
};
/* Drop app's snapshots beyond keep (the newest `last`, plus the newest
 * of each of the last `daily` days and `weekly` weeks); snapshots tagged
 * failed-update or before-rollback are kept (backup_forget() removes
 * them).  Then collect garbage. */
int backup_prune(struct backup_store *bs, const char *app,
		 const struct backup_keep *keep, long long now,
		 struct backup_prune_result *r);
int backup_forget(struct backup_store *bs, const char *app, uint64_t id);
/* Mark and sweep: delete every chunk no snapshot references, in
 * batches of one transaction each (an interrupted sweep is finished by
 * the next). */
int backup_gc(struct backup_store *bs, struct backup_prune_result *r);

/* Offsite: copy queued chunks, then snapshots, to backup.offsite.url;
 * each object is read back and compared.  What was copied leaves the
 * queue at once, so a cut link resumes where it stopped. */
struct backup_upload_result {
	uint64_t objects, bytes, pending;
};
int backup_upload(struct backup_store *bs, const struct config *cfg,
		  struct backup_upload_result *r);

/* Per-app status (RPO, drills), kept in the backup store. */
struct backup_status {
	uint64_t snapshot_id;       /* newest snapshot */
	long long snapshot_time;
	long long verified_time;    /* time of the newest verified snapshot */
	long long drill_time;       /* last drill: when, how long, result */
	double drill_seconds;
	uint64_t drill_snapshot;
	int drill_ok;
	long long error_time;       /* last failed backup */
	char error[512];
};
int backup_status_get(struct backup_store *bs, const char *app,
		      struct backup_status *s);
/* Status without the key or the lock (status command, reports); all
 * zero when there is no backup store. */
int backup_status_peek(const char *state_dir, const char *app,
		       struct backup_status *s);

/* Every app's status at once, without the key or the lock (status,
 * reports, metrics); none when there is no backup store.  *out is freed
 * with free(). */
struct backup_status_entry {
	char app[64];
	struct backup_status s;
};
int backup_status_all(const char *state_dir, struct backup_status_entry **out,
		      size_t *n);

/* A drill: restore the newest snapshot of app into a scratch directory
 * under the state dir, check every file against the manifest, time it
 * (the RTO), record the result in the status and remove the scratch. */
struct backup_drill_result {
	uint64_t snapshot;
	double seconds;
	uint64_t files, bytes;
	int ok;
	char why[512];
};
int backup_drill(struct backup_store *bs, const char *app,
		 struct backup_drill_result *r);

/* Record a failed snapshot attempt in app's status. */
void backup_note_error(struct backup_store *bs, const char *app,
		       const char *msg);

#endif
