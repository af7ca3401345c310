/*
 * backup_tree.h - the manifest of one snapshot: a byte stream of entries
 * (directories, files with their chunk lists, symlinks, hard links,
 * fifos), in walk order, parents before children.  The stream is itself
 * chunked, sealed and stored like file data (backup_snapshot.c), so an
 * unchanged tree costs nothing and a large one has no size limit beyond
 * LIMIT_BACKUP_TREE_BYTES.
 *
 * Encoding (all integers LEB128 varints, signed ones zigzag):
 *   "furrow-tree-1\n"
 *   entry*: type byte ('d' 'f' 'l' 'h' 'p'), path (len, bytes: relative,
 *     '/'-separated, no empty, "." or ".." component, no NUL), mode, uid,
 *     gid, mtime s (signed), mtime ns, size, ino, ctime s (signed),
 *     ctime ns, then
 *     'l': target (len, bytes)        'h': path of the first link (len, bytes)
 *     'f': extent count, each: len, kind (0 hole, 1 data), data: 32-byte id
 * The decoder is bounded and checks every field; it is fuzzed
 * (tests/fuzz/fuzz_backup_tree.c).
 */
#ifndef FURROW_BACKUP_TREE_H
#define FURROW_BACKUP_TREE_H

#include <stddef.h>
#include <stdint.h>

struct strbuf;

#define BT_MAGIC "furrow-tree-1\n"
#define BT_ID_BYTES 32

enum bt_type {
	BT_DIR = 'd',
	BT_FILE = 'f',
	BT_SYMLINK = 'l',
	BT_HARDLINK = 'h',
	BT_FIFO = 'p',
};

struct bt_entry {
	int type;                  /* enum bt_type */
	const char *path;          /* not NUL-terminated: path_len bytes */
	size_t path_len;
	uint32_t mode;             /* st_mode permission and type bits */
	uint32_t uid, gid;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	uint64_t size;             /* file: bytes; others 0 */
	uint64_t ino;              /* for the unchanged-file cache only */
	int64_t ctime_sec;
	uint32_t ctime_nsec;
	const char *target;        /* symlink target / first link's path */
	size_t target_len;
	uint64_t nextents;         /* file: extents in extents[] */
	const unsigned char *extents; /* encoded; read with bt_extent_next() */
	size_t extents_len;
};

struct bt_extent {
	uint64_t len;
	int hole;                  /* a run of zero bytes, nothing stored */
	unsigned char id[BT_ID_BYTES];
};

/* Start a stream: the magic. */
void bt_begin(struct strbuf *out);
/* Append an entry; a file's extents are appended after it with
 * bt_add_extent() (e->nextents must be the number that follow).
 * e->extents is ignored. */
void bt_add_entry(struct strbuf *out, const struct bt_entry *e);
void bt_add_extent(struct strbuf *out, const struct bt_extent *x);

/* Reading.  The cursor borrows buf, which must outlive the entries. */
struct bt_reader {
	const unsigned char *p, *end;
	uint64_t count;
};

/* FURROW_ESYNTAX if buf does not start with the magic. */
int bt_reader_init(struct bt_reader *r, const void *buf, size_t len);
/* 1 with *e filled, 0 at the end, or FURROW_ESYNTAX naming the entry
 * number and what is wrong. */
int bt_next(struct bt_reader *r, struct bt_entry *e);

struct bt_extent_reader {
	const unsigned char *p, *end;
	uint64_t left;
};
void bt_extents(struct bt_extent_reader *x, const struct bt_entry *e);
/* 1 with *out, 0 at the end (the entry was validated by bt_next()). */
int bt_extent_next(struct bt_extent_reader *x, struct bt_extent *out);

/* 1 if path[0..len) is a valid relative entry path (see above). */
int bt_path_valid(const char *path, size_t len);

/* LEB128 helpers, shared with the snapshot record codec. */
void bt_put_uvarint(struct strbuf *out, uint64_t v);
void bt_put_svarint(struct strbuf *out, int64_t v);
void bt_put_bytes(struct strbuf *out, const void *s, size_t len);
/* 0, or -1 on truncation/overlong encoding; advance *p. */
int bt_get_uvarint(const unsigned char **p, const unsigned char *end,
		   uint64_t *v);
int bt_get_svarint(const unsigned char **p, const unsigned char *end,
		   int64_t *v);
/* A length-prefixed byte string of at most max bytes. */
int bt_get_bytes(const unsigned char **p, const unsigned char *end,
		 size_t max, const char **s, size_t *len);

#endif
