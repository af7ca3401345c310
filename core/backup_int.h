/*
 * backup_int.h - what the backup modules share (not for other callers;
 * they use backup.h).
 *
 * The backup store is an LMDB environment of its own (store.h,
 * STORE_KIND_BACKUP) under <state_dir>/backup/:
 *   chunks     32-byte chunk id -> sealed chunk
 *   snapshots  10-digit snapshot id -> sealed snapshot record
 *   offsite    "c" + chunk id | "s" + snapshot id -> "" : not yet copied
 *   status     app name -> "key value" lines (backup_status.c)
 *   meta       key_check, next_snapshot, offsite_next, ...
 * A chunk id is HMAC-SHA-256 of the chunk's plaintext under a key derived
 * from the backup key (backup_key.h); a sealed chunk is AES-256-GCM over
 * (1 byte: 0 stored, 1 zstd) + data, with the id as additional data.
 */
#ifndef FURROW_BACKUP_INT_H
#define FURROW_BACKUP_INT_H

#include <stddef.h>
#include <stdint.h>

#include "backup.h"
#include "backup_key.h"
#include "backup_tree.h"
#include "chunker.h"

struct store;
struct strbuf;

struct backup_store {
	struct store *st;
	struct backup_key key;
	struct chunker cdc;
	char *state_dir;
	int writable;
	unsigned reads;          /* chunk reads since the last trim */
};

/* Every this many chunk reads, bulk readers trim the map's resident
 * pages (store_trim_resident()). */
#define BACKUP_TRIM_EVERY 8

/* Where sealed chunks come from: the local store or the offsite copy. */
struct chunk_source {
	/* Put the sealed blob of id in blob (replacing it); FURROW_ENOENT
	 * when there is none. */
	int (*get)(void *arg, const unsigned char id[BT_ID_BYTES],
		   struct strbuf *blob);
	void *arg;
	const struct backup_key *key;
};

/* The local store as a chunk source. */
void backup_local_source(struct chunk_source *src, struct backup_store *bs);

/* Seal a chunk: compress (when it pays) and encrypt; blob replaced.
 * scratch (may be NULL) is working space kept between calls, so that a
 * stream of chunks does not allocate (and, for large blocks, map) anew. */
int chunk_seal(const struct backup_key *k, const unsigned char id[BT_ID_BYTES],
	       const void *data, size_t len, struct strbuf *blob,
	       struct strbuf *scratch);
/* Open, decompress and check that the plaintext has this id
 * (FURROW_EVERIFY naming the chunk otherwise); plain replaced. */
int chunk_unseal(const struct backup_key *k,
		 const unsigned char id[BT_ID_BYTES], const void *blob,
		 size_t len, struct strbuf *plain);
/* Inside a write transaction: delete n chunks (ids: n * BT_ID_BYTES
 * bytes) and their offsite queue entries; absent ones are fine. */
struct store_txn;
int chunks_delete(struct store_txn *t, const unsigned char *ids, size_t n);

/* Fetch and unseal in one. */
int chunk_read(const struct chunk_source *src,
	       const unsigned char id[BT_ID_BYTES], struct strbuf *blob,
	       struct strbuf *plain);

/* Sealing new chunks on worker threads (backup_sealer.c, on a workring):
 * submit a copy of each new chunk; sealed ones come back, in submit order,
 * through fn (called by sealer_submit() and sealer_drain() on the caller's
 * thread); sealer_drain() waits for all.  The first error (a seal's or
 * fn's) is returned.  sealer_has(): is id submitted and not handed back
 * yet. */
#define SEALER_JOBS 8         /* chunks in flight at most */
struct sealer;
typedef int (*sealer_fn)(void *arg, const unsigned char *id,
			 const void *blob, size_t len);
struct sealer *sealer_new(const struct backup_key *key);
int sealer_submit(struct sealer *s, const unsigned char id[BT_ID_BYTES],
		  const void *data, size_t len, sealer_fn fn, void *arg);
int sealer_has(struct sealer *s, const unsigned char id[BT_ID_BYTES]);
int sealer_drain(struct sealer *s, sealer_fn fn, void *arg);
void sealer_free(struct sealer *s);

/* Opening chunks on worker threads for a restore (backup_opener.c, on a
 * workring): submit a chunk id with its length and where it goes; the
 * plaintexts come back in submit order through fn (called by
 * opener_submit() and opener_drain() on the caller's thread);
 * opener_drain() waits for all.  The first error (an open's or fn's) is
 * returned, and drain leaves the opener empty for the next file. */
#define OPENER_JOBS 16
struct opener;
typedef int (*opener_fn)(void *arg, const void *plain, size_t len,
			 uint64_t off);
struct opener *opener_new(const struct chunk_source *src);
int opener_submit(struct opener *o, const unsigned char id[BT_ID_BYTES],
		  uint64_t len, uint64_t off, opener_fn fn, void *arg);
int opener_drain(struct opener *o, opener_fn fn, void *arg);
void opener_free(struct opener *o);

/* The snapshot record: what a snapshot is, with its tree's chunks. */
struct backup_record {
	struct backup_info info;
	char **paths;
	size_t npaths;
	uint64_t tree_len;
	size_t ntree;
	struct bt_extent *tree;      /* data extents of the tree stream */
};

void record_release(struct backup_record *r);
void record_encode(struct strbuf *out, const struct backup_record *r);
int record_decode(struct backup_record *r, const void *buf, size_t len);
/* Sealed record <-> record (type 's'). */
int record_seal(const struct backup_key *k, const struct backup_record *r,
		struct strbuf *blob);
int record_unseal(const struct backup_key *k, const void *blob, size_t len,
		  struct backup_record *r);
/* "0000000042" */
void snapshot_key(uint64_t id, char out[11]);

/* Read a snapshot's whole tree stream into tree (checked against its
 * recorded length). */
int tree_load(const struct chunk_source *src, const struct backup_record *r,
	      struct strbuf *tree);

/* All records in the local store, oldest first (app NULL: every app). */
int records_load(struct backup_store *bs, const char *app,
		 struct backup_record **out, size_t *n);
void records_free(struct backup_record *r, size_t n);
int record_load(struct backup_store *bs, uint64_t id, struct backup_record *r);

/* Hex of an id, for messages. */
void id_hex(const unsigned char id[BT_ID_BYTES], char out[2 * BT_ID_BYTES + 1]);

/* Per-app status lines (backup_status.c). */
int status_load(struct store *st, const char *app, struct backup_status *s);
int status_save(struct store *st, const char *app,
		const struct backup_status *s);

/* Restore the entries of a loaded tree under dir (backup_restore.c);
 * dir exists and is empty.  only_prefix NULL: everything. */
int restore_tree(const struct chunk_source *src, const void *tree,
		 size_t tree_len, const char *dir,
		 struct backup_restore_stats *stats);

/* Chunks snapshots reference, each with its first user for messages
 * (backup_verify.c; also the mark phase of backup_gc()). */
struct ref {
	unsigned char id[BT_ID_BYTES];
	uint64_t snap;
	char *path;
};
struct refs {
	struct ref *v;
	size_t n, alloc;
};
void refs_add(struct refs *rs, const unsigned char *id, uint64_t snap,
	      const char *path, size_t plen);
/* Sort, one entry per id (the oldest snapshot's). */
void refs_unique(struct refs *rs);
const struct ref *refs_find(const struct refs *rs, const unsigned char *id);
void refs_free(struct refs *rs);
/* Add the chunks of one snapshot (its manifest's and its files'). */
int refs_of_snapshot(const struct chunk_source *src,
		     const struct backup_record *r, struct refs *rs);

/* Restore rec into to_dir (must not exist) through a hidden sibling. */
int restore_to_new_dir(const struct chunk_source *src,
		       const struct backup_record *rec, const char *to_dir,
		       struct backup_restore_stats *stats);

/* rm -rf, never following a symlink, at any length of path (a level at
 * a time, relative to its parent) down to LIMIT_BACKUP_RMTREE_DEPTH
 * levels; directories without permissions are made 0700 to empty them.
 * 0 if path does not exist. */
int backup_rmtree(const char *path);

/* Compare a restored tree under dir with its manifest (backup_drill.c
 * uses it): types, modes, sizes, targets and every file's chunk ids. */
int tree_check_against(const struct backup_store *bs, const void *tree,
		       size_t tree_len, const char *dir, char *why,
		       size_t whylen);

#endif
