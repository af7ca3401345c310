/*
 * backup_snapshot.c - take a snapshot: walk the app's data paths, cut
 * files into content-defined chunks, store the chunks not stored yet,
 * then the manifest (itself chunked) and the sealed record.
 *
 * Chunks go to LMDB in batches of LIMIT_BACKUP_BATCH_BYTES, one write
 * transaction each; the record comes last, in its own transaction, so a
 * crash or a full disk leaves at most chunks that nothing references
 * (collected by backup_gc()) and every earlier snapshot intact.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "backup_int.h"
#include "bug.h"
#include "error.h"
#include "limits.h"
#include "log.h"
#include "monoclock.h"
#include "store.h"
#include "strbuf.h"
#include "banned.h"

#define READ_BUF_BYTES (4u * CHUNKER_MAX)
#define MAX_DEPTH 256
#define BATCH_MAX_CHUNKS 4096 /* power of two: the pending set's size */

static const unsigned char zero_chunk[CHUNKER_MAX];

/* ---- small hash maps ---- */

static uint64_t hash_bytes(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 1469598103934665603ull;

	while (n--)
		h = (h ^ *s++) * 1099511628211ull;
	return h;
}

/* The previous snapshot's file entries by path. */
struct prev_map {
	struct bt_entry *slots;
	size_t cap;
	struct strbuf tree;        /* the entries point into it */
};

static void prev_add(struct prev_map *m, const struct bt_entry *e)
{
	size_t i = hash_bytes(e->path, e->path_len) & (m->cap - 1);

	while (m->slots[i].path)
		i = (i + 1) & (m->cap - 1);
	m->slots[i] = *e;
}

static const struct bt_entry *prev_find(const struct prev_map *m,
					const char *path, size_t len)
{
	size_t i;

	if (!m->cap)
		return NULL;
	for (i = hash_bytes(path, len) & (m->cap - 1); m->slots[i].path;
	     i = (i + 1) & (m->cap - 1))
		if (m->slots[i].path_len == len &&
		    !memcmp(m->slots[i].path, path, len))
			return &m->slots[i];
	return NULL;
}

/* Hard links seen in this walk: (dev, ino) -> first path. */
struct link_seen {
	dev_t dev;
	ino_t ino;
	char *path;
};

/* ---- the walk ---- */

struct pending {
	unsigned char id[BT_ID_BYTES];
	size_t off, len;           /* in batch */
};

struct snap {
	struct backup_store *bs;
	const struct backup_request *req;
	struct strbuf tree;
	struct prev_map prev;
	struct link_seen *links;
	size_t nlinks, links_alloc;
	/* Sealed chunks waiting for their transaction, and a set of their
	 * ids (indices + 1 into pend, 0 empty). */
	struct strbuf batch;
	struct pending pend[BATCH_MAX_CHUNKS];
	size_t npend;
	unsigned set[2 * BATCH_MAX_CHUNKS];
	unsigned char *buf;        /* READ_BUF_BYTES */
	struct strbuf abs, rel;
	struct strbuf extents;     /* of the file being read */
	uint64_t nextents;
	struct backup_info *info;
	struct sealer *sealer;     /* seals new chunks on other threads */
	dev_t root_dev;
	int skipped_special;
};

static int pend_find(const struct snap *s, const unsigned char *id)
{
	size_t i = hash_bytes(id, 8) & (2 * BATCH_MAX_CHUNKS - 1);

	for (; s->set[i]; i = (i + 1) & (2 * BATCH_MAX_CHUNKS - 1))
		if (!memcmp(s->pend[s->set[i] - 1].id, id, BT_ID_BYTES))
			return 1;
	return 0;
}

static int flush_fn(struct store_txn *t, void *arg)
{
	struct snap *s = arg;
	unsigned char qk[1 + BT_ID_BYTES];
	size_t i;
	int ret;

	qk[0] = 'c';
	for (i = 0; i < s->npend; i++) {
		const struct pending *p = &s->pend[i];

		/* Each insert reads a leaf of a random part of the B-tree
		 * through the map, and the kernel maps the whole (large)
		 * folio around it: trim as we go, not only per batch. */
		if (i % 4 == 3)
			store_trim_resident(s->bs->st);
		memcpy(qk + 1, p->id, BT_ID_BYTES);
		if ((ret = store_put(t, "chunks", p->id, BT_ID_BYTES,
				     s->batch.buf + p->off, p->len)) ||
		    (ret = store_put(t, "offsite", qk, sizeof(qk), "", 0)))
			return ret;
	}
	return 0;
}

/* A commit that failed for want of space: LMDB reports a short write
 * as a bare EIO, so look at the file system and say so when it is
 * (nearly) full. */
static int store_failed(const struct backup_store *bs, const char *app,
			int ret, const char *what)
{
	struct strbuf dir = STRBUF_INIT;
	struct statvfs v;

	strbuf_addf(&dir, "%s/backup", bs->state_dir);
	if (ret == FURROW_EIO && statvfs(dir.buf, &v) == 0 &&
	    (uint64_t)v.f_bavail * v.f_frsize < 2ull * LIMIT_BACKUP_BATCH_BYTES)
		ret = error_prefix(ret, "backup of %s: %s: no space left on "
				   "device (%llu KiB free on the file system "
				   "of %s)", app, what,
				   (unsigned long long)v.f_bavail * v.f_frsize /
				   1024, dir.buf);
	else
		ret = error_prefix(ret, "backup of %s: %s", app, what);
	strbuf_release(&dir);
	return ret;
}

static int flush_batch(struct snap *s)
{
	int ret = 0;

	/* The record's commit, durable, makes the batches before it so:
	 * until then a lost batch is only unreferenced chunks missing. */
	if (s->npend && (ret = store_update_deferred(s->bs->st, flush_fn, s)))
		ret = store_failed(s->bs, s->req->app, ret,
				   "cannot store chunks");
	store_trim_resident(s->bs->st);
	s->npend = 0;
	strbuf_reset(&s->batch);
	memset(s->set, 0, sizeof(s->set));
	return ret;
}

struct exists_arg {
	const unsigned char *id;
	int found;
};

static int add_sealed(void *arg, const unsigned char *id, const void *blob,
		      size_t len);

static int exists_fn(struct store_txn *t, void *arg)
{
	struct exists_arg *a = arg;
	const void *v;
	size_t n;
	int ret = store_get(t, "chunks", a->id, BT_ID_BYTES, &v, &n);

	if (ret && ret != FURROW_ENOENT)
		return ret;
	a->found = !ret;
	return 0;
}

static int chunk_known(struct snap *s, const unsigned char *id, int *found)
{
	struct exists_arg a = { id, 0 };
	int ret;

	if (++s->bs->reads % 8 == 0)
		store_trim_resident(s->bs->st);
	if (pend_find(s, id)) {
		*found = 1;
		return 0;
	}
	if (sealer_has(s->sealer, id)) {
		*found = 1;
		return 0;
	}
	ret = store_view(s->bs->st, exists_fn, &a);
	*found = a.found;
	return ret;
}

/* A sealed chunk joins the batch (flushed first when full). */
static int add_sealed(void *arg, const unsigned char *id, const void *blob,
		      size_t len)
{
	struct snap *s = arg;
	struct pending *p;
	size_t i;
	int ret;

	if (s->npend == BATCH_MAX_CHUNKS / 2 ||
	    s->batch.len + len > LIMIT_BACKUP_BATCH_BYTES)
		if ((ret = flush_batch(s)))
			return ret;
	p = &s->pend[s->npend];
	memcpy(p->id, id, BT_ID_BYTES);
	p->off = s->batch.len;
	p->len = len;
	strbuf_add(&s->batch, blob, len);
	s->npend++;
	for (i = hash_bytes(id, 8) & (2 * BATCH_MAX_CHUNKS - 1); s->set[i];
	     i = (i + 1) & (2 * BATCH_MAX_CHUNKS - 1))
		;
	s->set[i] = (unsigned)s->npend;
	s->info->new_chunks++;
	s->info->new_bytes += len;
	return 0;
}

/* Everything submitted sealed and in the batch. */
static int drain(struct snap *s)
{
	return sealer_drain(s->sealer, add_sealed, s);
}

/* Store one chunk (unless stored already); its id in id.  New chunks
 * are sealed on the sealer's threads. */
static int put_chunk(struct snap *s, const unsigned char *data, size_t len,
		     unsigned char id[BT_ID_BYTES])
{
	int found, ret;

	backup_chunk_id(&s->bs->key, data, len, id);
	if ((ret = chunk_known(s, id, &found)))
		return ret;
	if (found)
		return 0;
	return sealer_submit(s->sealer, id, data, len, add_sealed, s);
}

static void add_extent(struct snap *s, uint64_t len, int hole,
		       const unsigned char *id)
{
	struct bt_extent x;

	memset(&x, 0, sizeof(x));
	x.len = len;
	x.hole = hole;
	if (!hole)
		memcpy(x.id, id, BT_ID_BYTES);
	bt_add_extent(&s->extents, &x);
	s->nextents++;
}

/* Chunk the data region [off, end) of fd. */
static int read_region(struct snap *s, int fd, uint64_t off, uint64_t end,
		       uint64_t *got)
{
	size_t have = 0, start = 0, cut;
	int eof = 0, ret;
	unsigned char id[BT_ID_BYTES];

	for (;;) {
		/* Keep at least CHUNKER_MAX bytes ahead of the cut. */
		if (!eof && have - start < CHUNKER_MAX) {
			ssize_t r;
			size_t want;

			memmove(s->buf, s->buf + start, have - start);
			have -= start;
			start = 0;
			want = READ_BUF_BYTES - have;
			if ((uint64_t)want > end - off)
				want = (size_t)(end - off);
			r = want ? pread(fd, s->buf + have, want, (off_t)off) : 0;
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				return error_errno(FURROW_EIO, "cannot read %s",
						   s->abs.buf);
			if (r == 0)
				eof = 1;
			have += (size_t)r;
			off += (uint64_t)r;
			s->info->read_bytes += (uint64_t)r;
			continue;
		}
		if (have == start)
			break;
		cut = chunker_cut(&s->bs->cdc, s->buf + start, have - start,
				  eof);
		if (!cut)
			BUG("chunker wants more data at eof");
		if (!memcmp(s->buf + start, zero_chunk, cut)) {
			/* Zeros: a hole, stored as nothing and restored
			 * sparse. */
			add_extent(s, cut, 1, NULL);
		} else {
			if ((ret = put_chunk(s, s->buf + start, cut, id)))
				return ret;
			add_extent(s, cut, 0, id);
		}
		*got += cut;
		start += cut;
	}
	return 0;
}

/* A file's extents: data regions chunked, holes recorded as such. */
static int read_file(struct snap *s, const struct stat *st, uint64_t *size)
{
	int fd, ret = 0;
	uint64_t off = 0, end = (uint64_t)st->st_size;
	struct stat fst;

	*size = 0;
	fd = open(s->abs.buf, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = open(s->abs.buf, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return error_errno(FURROW_EIO, "cannot open %s", s->abs.buf);
	/* Read once, front to back: a larger readahead window, and no
	 * point keeping the pages (a backup must not evict the apps'). */
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	/* And start reading ahead now, up to 32 MiB, while this thread is
	 * busy cutting and hashing. */
	(void)posix_fadvise(fd, 0, 32 << 20, POSIX_FADV_WILLNEED);
	if (fstat(fd, &fst) < 0 || !S_ISREG(fst.st_mode) ||
	    fst.st_ino != st->st_ino) {
		close(fd);
		return error_set(FURROW_EIO, "%s changed while being read",
				 s->abs.buf);
	}
	while (off < end && !ret) {
		off_t data = lseek(fd, (off_t)off, SEEK_DATA), hole;

		if (data < 0 && errno == ENXIO) {
			data = (off_t)end; /* a hole to the end */
		} else if (data < 0) {
			data = (off_t)off; /* no SEEK_DATA here: all data */
			hole = (off_t)end;
			goto region;
		}
		if ((uint64_t)data > end)
			data = (off_t)end;
		if ((uint64_t)data > off) {
			add_extent(s, (uint64_t)data - off, 1, NULL);
			*size += (uint64_t)data - off;
			off = (uint64_t)data;
			if (off >= end)
				break;
		}
		hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0 || (uint64_t)hole > end)
			hole = (off_t)end;
region:
		{
			uint64_t got = 0;

			ret = read_region(s, fd, (uint64_t)data, (uint64_t)hole,
					  &got);
			*size += got;
			off = (uint64_t)data + got;
			if (!ret && got < (uint64_t)hole - (uint64_t)data)
				break; /* shrank while read: take what was */
		}
	}
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	close(fd);
	return ret;
}

static void fill_entry(struct bt_entry *e, int type, const struct snap *s,
		       const struct stat *st)
{
	memset(e, 0, sizeof(*e));
	e->type = type;
	e->path = s->rel.buf;
	e->path_len = s->rel.len;
	e->mode = st->st_mode & 07777;
	e->uid = st->st_uid;
	e->gid = st->st_gid;
	e->mtime_sec = st->st_mtim.tv_sec;
	e->mtime_nsec = (uint32_t)st->st_mtim.tv_nsec;
	e->ino = st->st_ino;
	e->ctime_sec = st->st_ctim.tv_sec;
	e->ctime_nsec = (uint32_t)st->st_ctim.tv_nsec;
}

/* Unchanged since the previous snapshot, with every chunk still stored:
 * reuse its extents without reading the file. */
static int try_cached(struct snap *s, const struct stat *st,
		      struct bt_entry *e)
{
	const struct bt_entry *p = prev_find(&s->prev, s->rel.buf, s->rel.len);
	struct bt_extent_reader xr;
	struct bt_extent x;
	int found;

	if (!p || p->type != BT_FILE || p->size != (uint64_t)st->st_size ||
	    p->ino != (uint64_t)st->st_ino ||
	    p->mtime_sec != st->st_mtim.tv_sec ||
	    p->mtime_nsec != (uint32_t)st->st_mtim.tv_nsec ||
	    p->ctime_sec != st->st_ctim.tv_sec ||
	    p->ctime_nsec != (uint32_t)st->st_ctim.tv_nsec)
		return 0;
	bt_extents(&xr, p);
	while (bt_extent_next(&xr, &x))
		if (!x.hole && (chunk_known(s, x.id, &found) || !found)) {
			error_clear();
			return 0;
		}
	e->size = p->size;
	e->nextents = p->nextents;
	bt_add_entry(&s->tree, e);
	strbuf_add(&s->tree, p->extents, p->extents_len);
	return 1;
}

static int walk(struct snap *s, int depth);

static int visit(struct snap *s, int depth)
{
	struct stat st;
	struct bt_entry e;
	int ret;

	if (lstat(s->abs.buf, &st) < 0) {
		if (errno == ENOENT && depth > 0)
			return 0; /* deleted while we walked */
		return error_errno(errno == ENOENT ? FURROW_ENOENT : FURROW_EIO,
				   "cannot stat %s", s->abs.buf);
	}
	if (S_ISDIR(st.st_mode)) {
		fill_entry(&e, BT_DIR, s, &st);
		bt_add_entry(&s->tree, &e);
		s->info->files++;
		if (st.st_dev != s->root_dev)
			return 0; /* another filesystem mounted here */
		return walk(s, depth + 1);
	}
	if (S_ISLNK(st.st_mode)) {
		char target[LIMIT_PATH_BYTES + 1];
		ssize_t n = readlink(s->abs.buf, target, sizeof(target));

		if (n < 0 || (size_t)n > LIMIT_PATH_BYTES)
			return error_errno(FURROW_EIO, "cannot read link %s",
					   s->abs.buf);
		fill_entry(&e, BT_SYMLINK, s, &st);
		e.target = target;
		e.target_len = (size_t)n;
		if (n == 0)
			return 0;
		bt_add_entry(&s->tree, &e);
		s->info->files++;
		return 0;
	}
	if (S_ISFIFO(st.st_mode)) {
		fill_entry(&e, BT_FIFO, s, &st);
		bt_add_entry(&s->tree, &e);
		s->info->files++;
		return 0;
	}
	if (!S_ISREG(st.st_mode)) {
		if (!s->skipped_special++)
			log_event(LOG_WARN, "backup.skipped", "sockets and "
				  "devices are not backed up", "app",
				  s->req->app, "path", s->abs.buf, NULL);
		return 0;
	}
	s->info->files++;
	if (st.st_nlink > 1) {
		size_t i;

		for (i = 0; i < s->nlinks; i++) {
			if (s->links[i].dev == st.st_dev &&
			    s->links[i].ino == st.st_ino) {
				fill_entry(&e, BT_HARDLINK, s, &st);
				e.target = s->links[i].path;
				e.target_len = strlen(s->links[i].path);
				bt_add_entry(&s->tree, &e);
				return 0;
			}
		}
		if (s->nlinks == s->links_alloc) {
			s->links_alloc = s->links_alloc ? 2 * s->links_alloc : 16;
			s->links = realloc(s->links,
					   s->links_alloc * sizeof(*s->links));
		}
		s->links[s->nlinks].dev = st.st_dev;
		s->links[s->nlinks].ino = st.st_ino;
		s->links[s->nlinks].path = strdup(s->rel.buf);
		s->nlinks++;
	}
	fill_entry(&e, BT_FILE, s, &st);
	if (try_cached(s, &st, &e)) {
		s->info->bytes += e.size;
		return 0;
	}
	strbuf_reset(&s->extents);
	s->nextents = 0;
	if ((ret = read_file(s, &st, &e.size)))
		return ret;
	e.nextents = s->nextents;
	bt_add_entry(&s->tree, &e);
	strbuf_add(&s->tree, s->extents.buf, s->extents.len);
	s->info->bytes += e.size;
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int walk(struct snap *s, int depth)
{
	DIR *d;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, alloc = 0, i, abs_len = s->abs.len, rel_len = s->rel.len;
	int ret = 0;

	if (depth > MAX_DEPTH)
		return error_set(FURROW_ELIMIT, "%s: directories nested deeper "
				 "than %d", s->abs.buf, MAX_DEPTH);
	if (!(d = opendir(s->abs.buf)))
		return error_errno(FURROW_EIO, "cannot read directory %s",
				   s->abs.buf);
	while ((errno = 0, de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == alloc) {
			alloc = alloc ? 2 * alloc : 32;
			names = realloc(names, alloc * sizeof(*names));
		}
		names[n++] = strdup(de->d_name);
	}
	if (errno)
		ret = error_errno(FURROW_EIO, "cannot read directory %s",
				  s->abs.buf);
	closedir(d);
	/* Bytewise order: the same tree always gives the same manifest. */
	if (n)
		qsort(names, n, sizeof(*names), name_cmp);
	for (i = 0; i < n && !ret; i++) {
		strbuf_setlen(&s->abs, abs_len);
		strbuf_setlen(&s->rel, rel_len);
		strbuf_addf(&s->abs, "/%s", names[i]);
		strbuf_addf(&s->rel, "/%s", names[i]);
		if (s->rel.len > LIMIT_PATH_BYTES)
			ret = error_set(FURROW_ELIMIT, "%s: path longer than "
					"LIMIT_PATH_BYTES", s->abs.buf);
		else
			ret = visit(s, depth);
	}
	strbuf_setlen(&s->abs, abs_len);
	strbuf_setlen(&s->rel, rel_len);
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return ret;
}

/* Entries for the parents of a path like "db/sub/dir", once each. */
static int add_parents(struct snap *s, const char *path, char ***done,
		       size_t *ndone)
{
	const char *slash;
	struct stat st;
	struct bt_entry e;
	size_t i;

	for (slash = strchr(path, '/'); slash; slash = strchr(slash + 1, '/')) {
		strbuf_reset(&s->rel);
		strbuf_add(&s->rel, path, (size_t)(slash - path));
		for (i = 0; i < *ndone; i++)
			if (!strcmp((*done)[i], s->rel.buf))
				break;
		if (i < *ndone)
			continue;
		strbuf_reset(&s->abs);
		strbuf_addf(&s->abs, "%s/%s", s->req->data_dir, s->rel.buf);
		if (lstat(s->abs.buf, &st) < 0 || !S_ISDIR(st.st_mode))
			return error_set(FURROW_EINVAL, "%s is not a directory",
					 s->abs.buf);
		fill_entry(&e, BT_DIR, s, &st);
		bt_add_entry(&s->tree, &e);
		s->info->files++;
		*done = realloc(*done, (*ndone + 1) * sizeof(**done));
		(*done)[(*ndone)++] = strdup(s->rel.buf);
	}
	return 0;
}

static int inside(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return !strncmp(path, dir, n) && (path[n] == '/' || !path[n]);
}

static int walk_paths(struct snap *s)
{
	const struct backup_request *q = s->req;
	char **done = NULL;
	size_t ndone = 0, i, j;
	struct stat st;
	int ret = 0;

	if (stat(q->data_dir, &st) < 0)
		return error_errno(FURROW_ENOENT, "app %s: no data directory %s",
				   q->app, q->data_dir);
	s->root_dev = st.st_dev;
	for (i = 0; i < q->npaths && !ret; i++) {
		for (j = 0; j < i; j++)
			if (inside(q->paths[i], q->paths[j]))
				break;
		if (j < i)
			continue; /* already inside an earlier path */
		if ((ret = add_parents(s, q->paths[i], &done, &ndone)))
			break;
		strbuf_reset(&s->rel);
		strbuf_addstr(&s->rel, q->paths[i]);
		strbuf_reset(&s->abs);
		strbuf_addf(&s->abs, "%s/%s", q->data_dir, q->paths[i]);
		if (lstat(s->abs.buf, &st) < 0 && errno == ENOENT) {
			log_event(LOG_WARN, "backup.path_missing", "nothing to "
				  "back up there yet", "app", q->app, "path",
				  s->abs.buf, NULL);
			continue;
		}
		ret = visit(s, 0);
	}
	for (i = 0; i < ndone; i++)
		free(done[i]);
	free(done);
	return ret;
}

/* ---- the previous snapshot ---- */

static int load_prev(struct snap *s, const struct backup_record *r)
{
	struct chunk_source src;
	struct bt_reader rd;
	struct bt_entry e;
	size_t n = 0;
	int ret;

	backup_local_source(&src, s->bs);
	if ((ret = tree_load(&src, r, &s->prev.tree)) ||
	    (ret = bt_reader_init(&rd, s->prev.tree.buf, s->prev.tree.len)))
		return ret;
	while ((ret = bt_next(&rd, &e)) == 1)
		n += e.type == BT_FILE;
	if (ret < 0)
		return ret;
	for (s->prev.cap = 16; s->prev.cap < 2 * n; s->prev.cap *= 2)
		;
	s->prev.slots = calloc(s->prev.cap, sizeof(*s->prev.slots));
	bt_reader_init(&rd, s->prev.tree.buf, s->prev.tree.len);
	while (bt_next(&rd, &e) == 1)
		if (e.type == BT_FILE)
			prev_add(&s->prev, &e);
	return 0;
}

/* ---- the record ---- */

struct commit_arg {
	struct snap *s;
	struct backup_record *rec;
	struct strbuf blob;
	uint64_t id;
};

static int read_counter(struct store_txn *t, const char *name, uint64_t *v)
{
	const void *val;
	size_t n;
	char buf[24];
	int ret = store_get(t, "meta", name, strlen(name), &val, &n);

	*v = 1;
	if (ret == FURROW_ENOENT)
		return 0;
	if (ret)
		return ret;
	if (n == 0 || n >= sizeof(buf))
		return error_set(FURROW_ESYNTAX, "backup store: bad %s", name);
	memcpy(buf, val, n);
	buf[n] = '\0';
	*v = strtoull(buf, NULL, 10);
	if (!*v)
		return error_set(FURROW_ESYNTAX, "backup store: bad %s", name);
	return 0;
}

static int commit_fn(struct store_txn *t, void *arg)
{
	struct commit_arg *a = arg;
	char key[11], num[24], qk[12];
	int ret, len;

	if ((ret = flush_fn(t, a->s)) ||
	    (ret = read_counter(t, "next_snapshot", &a->id)))
		return ret;
	a->rec->info.id = a->id;
	if ((ret = record_seal(&a->s->bs->key, a->rec, &a->blob)))
		return ret;
	snapshot_key(a->id, key);
	len = snprintf(num, sizeof(num), "%llu", (unsigned long long)a->id + 1);
	qk[0] = 's';
	memcpy(qk + 1, key, 10);
	if ((ret = store_put(t, "snapshots", key, 10, a->blob.buf,
			     a->blob.len)) ||
	    (ret = store_put(t, "offsite", qk, 11, "", 0)) ||
	    (ret = store_put(t, "meta", "next_snapshot", 13, num, (size_t)len)))
		return ret;
	return 0;
}

/* Read the new snapshot back: its record opens, its tree decodes, every
 * chunk it names is stored.  Then it counts as verified.  The same check
 * as backup_verify()'s (refs_of_snapshot() and its existence pass), but
 * streamed: verify collects every reference of every snapshot first,
 * which a snapshot of a million files must not pay for on each run. */
static int read_back(struct backup_store *bs, uint64_t id)
{
	struct backup_record r;
	struct chunk_source src;
	struct strbuf tree = STRBUF_INIT;
	struct bt_reader rd;
	struct bt_entry e;
	struct bt_extent_reader xr;
	struct bt_extent x;
	struct exists_arg a;
	int ret;

	backup_local_source(&src, bs);
	if ((ret = record_load(bs, id, &r)))
		return ret;
	if ((ret = tree_load(&src, &r, &tree)) ||
	    (ret = bt_reader_init(&rd, tree.buf, tree.len)))
		goto out;
	while ((ret = bt_next(&rd, &e)) == 1) {
		if (e.type != BT_FILE)
			continue;
		bt_extents(&xr, &e);
		while (bt_extent_next(&xr, &x)) {
			if (x.hole)
				continue;
			a.id = x.id;
			a.found = 0;
			/* A lookup touches the chunk's first page (LMDB reads
			 * its overflow header), and the kernel maps the pages
			 * around it: keep the resident set flat. */
			if (++bs->reads % BACKUP_TRIM_EVERY == 0)
				store_trim_resident(bs->st);
			if ((ret = store_view(bs->st, exists_fn, &a)))
				goto out;
			if (!a.found) {
				char hex[2 * BT_ID_BYTES + 1];

				id_hex(x.id, hex);
				ret = error_set(FURROW_EVERIFY, "read-back: %.*s "
						"names chunk %s, which is not "
						"stored", (int)e.path_len,
						e.path, hex);
				goto out;
			}
		}
	}
out:
	strbuf_release(&tree);
	record_release(&r);
	return ret < 0 ? ret : 0;
}

static void snap_release(struct snap *s)
{
	size_t i;

	strbuf_release(&s->tree);
	strbuf_release(&s->prev.tree);
	free(s->prev.slots);
	for (i = 0; i < s->nlinks; i++)
		free(s->links[i].path);
	free(s->links);
	strbuf_release(&s->batch);
	strbuf_release(&s->abs);
	strbuf_release(&s->rel);
	strbuf_release(&s->extents);
	free(s->buf);
	sealer_free(s->sealer);
}

int backup_take(struct backup_store *bs, const struct backup_request *req,
		struct backup_info *out)
{
	struct snap *s = calloc(1, sizeof(*s));
	struct backup_record rec, *prev = NULL;
	struct commit_arg ca;
	struct backup_status st;
	size_t nprev = 0, off, cut;
	double t0 = monoclock_now();
	int ret;

	memset(out, 0, sizeof(*out));
	memset(&rec, 0, sizeof(rec));
	memset(&ca, 0, sizeof(ca));
	if (!bs->writable)
		BUG("backup_take on a read-only backup store");
	strbuf_init(&s->tree, 0);
	strbuf_init(&s->prev.tree, 0);
	strbuf_init(&s->batch, 0);
	strbuf_init(&s->abs, 0);
	strbuf_init(&s->rel, 0);
	strbuf_init(&s->extents, 0);
	s->bs = bs;
	s->req = req;
	s->info = out;
	s->buf = malloc(READ_BUF_BYTES);
	s->sealer = sealer_new(&bs->key);
	if (!s->sealer || !s->buf)
		BUG("out of memory");
	snprintf(out->app, sizeof(out->app), "%s", req->app);
	snprintf(out->tag, sizeof(out->tag), "%s", req->tag);
	snprintf(out->commit, sizeof(out->commit), "%s",
		 req->commit ? req->commit : "");
	out->time = (long long)time(NULL);

	/* The app's newest snapshot is the unchanged-file cache. */
	if ((ret = records_load(bs, req->app, &prev, &nprev)))
		goto out;
	if (nprev && (ret = load_prev(s, &prev[nprev - 1]))) {
		log_event(LOG_WARN, "backup.cache_unusable", error_message(),
			  "app", req->app, NULL);
		error_clear();
		ret = 0;
	}
	bt_begin(&s->tree);
	if ((ret = walk_paths(s)))
		goto out;
	if (s->tree.len > LIMIT_BACKUP_TREE_BYTES) {
		ret = error_set(FURROW_ELIMIT, "app %s: the manifest is over "
				"LIMIT_BACKUP_TREE_BYTES", req->app);
		goto out;
	}

	/* The manifest, chunked like data. */
	rec.info = *out;
	rec.paths = (char **)req->paths;
	rec.npaths = req->npaths;
	rec.tree_len = s->tree.len;
	rec.tree = calloc(s->tree.len / CHUNKER_MIN + 2, sizeof(*rec.tree));
	for (off = 0; off < s->tree.len; off += cut) {
		cut = chunker_cut(&bs->cdc, (unsigned char *)s->tree.buf + off,
				  s->tree.len - off, 1);
		rec.tree[rec.ntree].len = cut;
		if ((ret = put_chunk(s, (unsigned char *)s->tree.buf + off, cut,
				     rec.tree[rec.ntree].id)))
			goto out;
		rec.ntree++;
	}
	if ((ret = drain(s)))
		goto out;
	ca.s = s;
	ca.rec = &rec;
	if ((ret = store_update(bs->st, commit_fn, &ca))) {
		ret = store_failed(bs, req->app, ret, "cannot store the "
				   "snapshot");
		goto out;
	}
	out->id = ca.id;
	s->npend = 0;
	if ((ret = read_back(bs, ca.id))) {
		ret = error_prefix(ret, "backup of %s: snapshot %llu",
				   req->app, (unsigned long long)ca.id);
		goto out;
	}
	out->seconds = monoclock_now() - t0;
	if (!backup_status_get(bs, req->app, &st)) {
		st.snapshot_id = ca.id;
		st.snapshot_time = out->time;
		st.verified_time = out->time;
		st.error_time = 0;
		st.error[0] = '\0';
		ret = status_save(bs->st, req->app, &st);
	} else {
		ret = FURROW_EIO;
	}
out:
	rec.paths = NULL;
	rec.npaths = 0;
	record_release(&rec);
	records_free(prev, nprev);
	strbuf_release(&ca.blob);
	snap_release(s);
	free(s);
	return ret;
}
