/*
 * store.c - the LMDB state store (see store.h).
 *
 * Layout: <state_dir>/furrow.lock (the single-writer flock, holding the
 * writer's pid for error messages) and <state_dir>/db/{data,lock}.mdb;
 * the backup store likewise <state_dir>/backup.lock and backup/.
 * Tables are LMDB named sub-databases listed in state_tables[] and
 * backup_tables[] (struct store_layout); their
 * handles are opened once, in the transaction store_open() runs, and
 * shared by every later transaction.
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>

#include "bug.h"
#include "error.h"
#include "limits.h"
#include "store.h"
#include "strbuf.h"
#include "banned.h"

/* Every table furrow keeps.  A new table is added here and created by the
 * migration that introduces it. */
static const char *const state_tables[] = {
	"meta", /* schema_version, instance_id, created_at */
	"sync", /* the accepted commit, serial high-water mark, fetch times */
	"apps", /* per applied app: its spec's sha256 and commit (plan.h) */
	"journal", /* per app with an update in flight: its intent (journal.h) */
	"history", /* append-only apply events by sequence (journal.h) */
	"runtime", /* per app: health, last change, held spec (apply.h) */
	"outbox", /* reports and events not yet delivered, by sequence */
	"deadletter", /* outbox items the receiver refused (4xx) */
};
#define TABLE_META 0

/* The backup store's tables (core/backup*.c): a separate environment
 * under <state_dir>/backup/, so bulk snapshot data never competes with the
 * state store for its map, its lock or its page cache. */
static const char *const backup_tables[] = {
	"meta", /* schema_version, instance_id, created_at, key_check */
	"chunks", /* chunk id -> sealed, compressed chunk */
	"snapshots", /* snapshot id -> sealed snapshot record */
	"offsite", /* objects not yet copied offsite, in upload order */
	"status", /* per app: last snapshot, last drill, last error */
};

/* Where a kind of store lives and what it holds. */
struct store_layout {
	const char *subdir;        /* data.mdb, lock.mdb below state_dir */
	const char *lock_file;     /* the single-writer flock, in state_dir */
	const char *busy_what;     /* "state dir" in "... is in use by" */
	int dir_is_display;        /* messages name state_dir/subdir */
	const char *const *tables;
	size_t ntables;
	unsigned version;
	const struct store_migration *migrations; /* below */
	size_t nmigrations;
};

/* Mappings of data.mdb store_trim_resident() keeps track of. */
#define STORE_TRIM_MAPS 4

/* Room for tables added by later versions without an LMDB reconfigure. */
#define STORE_MAX_DBS 32

static const char key_version[] = "schema_version";
static const char key_instance[] = "instance_id";
static const char key_created[] = "created_at";
#define KEYLEN(k) (sizeof(k) - 1)

struct store {
	MDB_env *env;
	MDB_dbi dbi[STORE_MAX_DBS];
	const struct store_layout *layout;
	char *dir;              /* state_dir (or its backup/), for messages */
	enum store_mode mode;
	size_t max_map;
	int lock_fd;            /* holds the flock; -1 if none */
	int open_txns;          /* our transactions now open on env */
	int in_write;           /* inside store_update() */
	int broken;             /* a remap failed: env has no map */
	dev_t dev;              /* of db/, for the per-process registry */
	ino_t ino;
	ino_t data_ino;         /* of data.mdb: finds the map in /proc */
	struct {
		void *at;
		size_t len;
	} maps[STORE_TRIM_MAPS]; /* data.mdb's mappings, as last found */
	size_t nmaps, map_seen;  /* how many; the map size then */
	pid_t pid;
	struct store *next_open;
	/* Serialises every call into LMDB from this handle: the apply
	 * workers, the daemon's main thread and the report sender share
	 * one store.  Recursive, so that a nested store_update() still
	 * reaches its BUG() instead of deadlocking. */
	pthread_mutex_t mu;
};

struct store_txn {
	struct store *st;
	MDB_txn *txn;
	int rdonly;
	int map_full;           /* an operation hit MDB_MAP_FULL: grow, rerun */
};

/*
 * LMDB forbids opening one environment twice in a process: its fcntl()
 * locks are per process, so closing the second handle would drop the
 * first one's locks.  Stores opened by this process are listed here and a
 * second open is refused.  Entries carry the pid so that a forked child,
 * which may open the dir afresh, does not see its parent's.
 */
static struct store *store_registry;

/* Record an LMDB failure rc; t (may be NULL) learns about MDB_MAP_FULL. */
__attribute__((format(printf, 4, 5)))
static int store_fail(struct store *st, struct store_txn *t, int rc,
		      const char *fmt, ...)
{
	char what[256];
	va_list ap;
	int code;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	switch (rc) {
	case MDB_NOTFOUND: code = FURROW_ENOENT; break;
	case MDB_MAP_FULL: case MDB_TXN_FULL: case MDB_DBS_FULL:
	case MDB_READERS_FULL: code = FURROW_ELIMIT; break;
	case MDB_VERSION_MISMATCH: code = FURROW_EVERSION; break;
	case MDB_INVALID: case MDB_CORRUPTED: case MDB_PAGE_NOTFOUND:
		code = FURROW_ESYNTAX; break;
	default: code = rc > 0 ? FURROW_EIO : FURROW_ERR;
	}
	if (t && rc == MDB_MAP_FULL)
		t->map_full = 1;
	return error_set(code, "state store %s: %s: %s", st->dir, what,
			 mdb_strerror(rc));
}

static const struct {
	uint32_t magic;
	const char *name;
} store_netfs[] = {
	{ 0x6969, "NFS" }, { 0x517B, "SMB" }, { 0xFE534D42, "SMB2" },
	{ 0xFF534D42, "CIFS" }, { 0x73757245, "Coda" }, { 0x564c, "NCP" },
	{ 0x5346414F, "AFS" }, { 0x01021997, "9P" }, { 0x00c36400, "Ceph" },
	{ 0x01161970, "GFS2" }, { 0x7461636f, "OCFS2" },
	{ 0x0BD00BD0, "Lustre" },
	/*
	 * FUSE (0x65735546) is deliberately absent: the kernel reports the
	 * same magic for sshfs and for local FUSE filesystems such as
	 * fuse-overlayfs under rootless containers, and refusing those would
	 * break legitimate local setups.  Keeping state off a network FUSE
	 * mount is the operator's job (the docs must say so).
	 */
};

int store_fs_is_network(long f_type, const char **name)
{
	/* f_type is int on 32-bit glibc, so compare the low 32 bits only. */
	uint32_t t = (uint32_t)(unsigned long)f_type;
	size_t i;

	for (i = 0; i < sizeof(store_netfs) / sizeof(store_netfs[0]); i++) {
		if (store_netfs[i].magic == t) {
			if (name)
				*name = store_netfs[i].name;
			return 1;
		}
	}
	return 0;
}

static int store_check_fs(const char *path)
{
	struct statfs sfs;
	const char *name;

	if (statfs(path, &sfs) < 0)
		return error_errno(errno == ENOENT ? FURROW_ENOENT : FURROW_EIO,
				   "cannot statfs %s", path);
	if (store_fs_is_network((long)sfs.f_type, &name))
		return error_set(FURROW_ENETFS,
				 "state dir %s is on a network filesystem (%s, "
				 "f_type 0x%08lx); the state store needs a local "
				 "filesystem", path, name,
				 (unsigned long)(uint32_t)sfs.f_type);
	return 0;
}

static const struct store_layout *store_layout_of(const struct store_options *o);

static int store_path(struct strbuf *sb, const char *dir, const char *leaf)
{
	strbuf_reset(sb);
	strbuf_addf(sb, "%s/%s", dir, leaf);
	if (sb->len >= LIMIT_PATH_BYTES)
		return error_set(FURROW_ELIMIT, "path %s/%s is longer than "
				 "LIMIT_PATH_BYTES (%d)", dir, leaf,
				 LIMIT_PATH_BYTES);
	return 0;
}

static int store_mkdir(const char *path)
{
	if (mkdir(path, 0700) == 0 || errno == EEXIST)
		return 0;
	return error_errno(errno == ENOENT ? FURROW_ENOENT : FURROW_EIO,
			   "cannot create directory %s", path);
}

static int store_lock(struct store *st, const char *path)
{
	char buf[32];
	ssize_t n;
	int len;

	st->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
			   0600);
	if (st->lock_fd < 0)
		return error_errno(FURROW_EIO, "cannot open lock file %s", path);
	/* flock, not fcntl: it belongs to this open file, so a second open
	 * in the same process conflicts too, and LMDB's own fcntl locks on
	 * lock.mdb are not disturbed. */
	if (flock(st->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		int busy = errno == EWOULDBLOCK;

		if (!busy)
			error_errno(FURROW_EIO, "cannot lock %s", path);
		n = busy ? pread(st->lock_fd, buf, sizeof(buf) - 1, 0) : 0;
		close(st->lock_fd);
		st->lock_fd = -1;
		if (!busy)
			return FURROW_EIO;
		/* The holder may be between truncate and write: say so. */
		buf[n > 0 ? n : 0] = '\0';
		buf[strspn(buf, "0123456789")] = '\0';
		return error_set(FURROW_EBUSY, "%s %s is in use by "
				 "another furrow (pid %s)", st->layout->busy_what,
				 st->dir, buf[0] ? buf : "unknown");
	}
	len = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(st->lock_fd, 0) < 0 ||
	    pwrite(st->lock_fd, buf, (size_t)len, 0) != len)
		return error_errno(FURROW_EIO, "cannot write %s", path);
	return 0;
}

static int store_set_mapsize(struct store *st, size_t size)
{
	int rc = mdb_env_set_mapsize(st->env, size);

	if (!rc)
		return 0;
	/* LMDB unmaps the old map before mapping the new one and cannot
	 * get it back: this handle is dead, and every later call says so. */
	st->broken = 1;
	return store_fail(st, NULL, rc, "cannot resize the map to %zu bytes",
			  size);
}

/*
 * Directories, filesystem checks, lock, environment: everything but the
 * schema.  *fresh says whether data.mdb did not exist before.
 */
static int store_open_env(struct store **out, const char *state_dir,
			  const struct store_options *opts, int *fresh)
{
	struct strbuf path = STRBUF_INIT;
	struct store *st, *o;
	struct stat sb;
	MDB_envinfo info;
	size_t initial = STORE_MAP_INITIAL_BYTES;
	unsigned flags = MDB_NOTLS;
	int ret, rc, dead, rdonly = opts && opts->mode == STORE_READ_ONLY;

	*out = NULL;
	st = xcalloc(1, sizeof(*st));
	{
		pthread_mutexattr_t a;

		pthread_mutexattr_init(&a);
		pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
		pthread_mutex_init(&st->mu, &a);
		pthread_mutexattr_destroy(&a);
	}
	st->lock_fd = -1;
	st->layout = store_layout_of(opts);
	if (st->layout->dir_is_display) {
		struct strbuf d = STRBUF_INIT;

		strbuf_addf(&d, "%s/%s", state_dir, st->layout->subdir);
		st->dir = strbuf_detach(&d, NULL);
	} else {
		st->dir = xstrdup(state_dir);
	}
	st->mode = rdonly ? STORE_READ_ONLY : STORE_READ_WRITE;
	st->max_map = STORE_MAP_MAX_BYTES > SIZE_MAX ? SIZE_MAX
		: (size_t)STORE_MAP_MAX_BYTES;
	if (opts && opts->initial_map_bytes)
		initial = opts->initial_map_bytes;
	if (opts && opts->max_map_bytes)
		st->max_map = opts->max_map_bytes;
	if (initial > st->max_map) {
		ret = error_set(FURROW_EINVAL, "state store %s: initial map size "
				"%zu is above the maximum %zu", state_dir,
				initial, st->max_map);
		goto out;
	}

	/* The lock comes first: only its holder may find the store new. */
	if (!rdonly && ((ret = store_mkdir(state_dir)) ||
			(ret = store_check_fs(state_dir)) ||
			(ret = store_path(&path, state_dir,
					  st->layout->lock_file)) ||
			(ret = store_lock(st, path.buf))))
		goto out;
	if ((ret = store_path(&path, state_dir, st->layout->subdir)))
		goto out;
	strbuf_addstr(&path, "/data.mdb");
	*fresh = stat(path.buf, &sb) < 0;
	if (*fresh && errno != ENOENT) {
		ret = error_errno(FURROW_EIO, "cannot stat %s", path.buf);
		goto out;
	}
	if (*fresh && rdonly) {
		ret = error_set(FURROW_ENOENT, "state store %s/%s does not exist "
				"yet (a read-write furrow creates it)",
				state_dir, st->layout->subdir);
		goto out;
	}
	if ((rdonly && (ret = store_check_fs(state_dir))) ||
	    (ret = store_path(&path, state_dir, st->layout->subdir)) ||
	    (!rdonly && (ret = store_mkdir(path.buf))) ||
	    (ret = store_check_fs(path.buf)))
		goto out;
	if (stat(path.buf, &sb) < 0) {
		ret = error_errno(FURROW_EIO, "cannot stat %s", path.buf);
		goto out;
	}
	for (o = store_registry; o; o = o->next_open) {
		if (o->pid == getpid() && o->dev == sb.st_dev &&
		    o->ino == sb.st_ino) {
			ret = error_set(FURROW_EBUSY, "state store %s is already "
					"open in this process", state_dir);
			goto out;
		}
	}

	if ((rc = mdb_env_create(&st->env))) {
		st->env = NULL;
		ret = store_fail(st, NULL, rc, "cannot create environment");
		goto out;
	}
	st->dev = sb.st_dev;
	st->ino = sb.st_ino;
	st->pid = getpid();
	st->next_open = store_registry;
	store_registry = st;
	if ((rc = mdb_env_set_maxdbs(st->env, STORE_MAX_DBS)) ||
	    (*fresh && (rc = mdb_env_set_mapsize(st->env, initial)))) {
		ret = store_fail(st, NULL, rc, "cannot configure environment");
		goto out;
	}
	/* No MDB_NOSYNC, MDB_NOMETASYNC or MDB_MAPASYNC: a commit is durable
	 * when it returns.  MDB_NOTLS lets a read transaction be used by a
	 * thread other than the one that began it. */
	if (rdonly)
		flags |= MDB_RDONLY;
	if ((rc = mdb_env_open(st->env, path.buf, flags, 0600))) {
		ret = store_fail(st, NULL, rc, "cannot open %s", path.buf);
		goto out;
	}
	{
		struct strbuf f = STRBUF_INIT;
		struct stat ds;

		strbuf_addf(&f, "%s/data.mdb", path.buf);
		if (stat(f.buf, &ds) == 0)
			st->data_ino = ds.st_ino;
		strbuf_release(&f);
	}
	/* A crashed process leaves its reader slot behind, pinning old
	 * pages so the file grows forever; clear such slots now. */
	if ((rc = mdb_reader_check(st->env, &dead))) {
		ret = store_fail(st, NULL, rc, "cannot check for stale readers");
		goto out;
	}
	/* An existing store keeps its recorded map size, but not below what
	 * the caller asked for. */
	if (!rdonly && !(rc = mdb_env_info(st->env, &info)) &&
	    info.me_mapsize < initial &&
	    (ret = store_set_mapsize(st, initial)))
		goto out;
	ret = 0;
out:
	strbuf_release(&path);
	if (ret)
		store_free(st);
	else
		*out = st;
	return ret;
}

static int store_txn_begin(struct store *st, struct store_txn *t, int rdonly)
{
	int rc, ret, tries;

	memset(t, 0, sizeof(*t));
	t->st = st;
	t->rdonly = rdonly;
	if (st->broken)
		return error_set(FURROW_EIO, "state store %s is unusable after "
				 "a failed map resize; reopen it", st->dir);
	for (tries = 0;; tries++) {
		rc = mdb_txn_begin(st->env, NULL, rdonly ? MDB_RDONLY : 0,
				   &t->txn);
		if (rc != MDB_MAP_RESIZED || tries == 3)
			break;
		/* Another process grew the map.  Adopting its size remaps,
		 * which must not happen under one of our open transactions. */
		if (st->open_txns)
			return error_set(FURROW_ELIMIT, "state store %s: the map "
					 "was grown by another process and "
					 "cannot be remapped while a "
					 "transaction is open", st->dir);
		if ((ret = store_set_mapsize(st, 0)))
			return ret;
	}
	if (rc) {
		t->txn = NULL;
		return store_fail(st, NULL, rc, "cannot begin a transaction");
	}
	st->open_txns++;
	return 0;
}

static int store_grow(struct store *st)
{
	MDB_envinfo info;
	size_t cur, next;
	int rc;

	if (st->open_txns)
		return error_set(FURROW_ELIMIT, "state store %s is full and "
				 "cannot grow while a read transaction is open "
				 "in this process", st->dir);
	if ((rc = mdb_env_info(st->env, &info)))
		return store_fail(st, NULL, rc, "cannot read the map size");
	cur = info.me_mapsize;
	if (cur >= st->max_map)
		return error_set(FURROW_ELIMIT, "state store %s is full: the map "
				 "reached its maximum of %zu bytes "
				 "(STORE_MAP_MAX_BYTES, max_map_bytes)", st->dir,
				 st->max_map);
	next = cur > st->max_map / 2 ? st->max_map : cur * 2;
	return store_set_mapsize(st, next);
}

static int store_update_locked(struct store *st, store_txn_fn fn, void *arg);

int store_update(struct store *st, store_txn_fn fn, void *arg)
{
	int ret;

	pthread_mutex_lock(&st->mu);
	ret = store_update_locked(st, fn, arg);
	pthread_mutex_unlock(&st->mu);
	return ret;
}

int store_update_deferred(struct store *st, store_txn_fn fn, void *arg)
{
	int ret;

	pthread_mutex_lock(&st->mu);
	/* MDB_NOMETASYNC, for this commit alone: LMDB picks the meta
	 * page's file descriptor (O_DSYNC or not) at each commit, and
	 * keeps the store intact without the flush (it only may undo the
	 * last commit). */
	if (!st->broken)
		(void)mdb_env_set_flags(st->env, MDB_NOMETASYNC, 1);
	ret = store_update_locked(st, fn, arg);
	if (!st->broken)
		(void)mdb_env_set_flags(st->env, MDB_NOMETASYNC, 0);
	pthread_mutex_unlock(&st->mu);
	return ret;
}

static int store_update_locked(struct store *st, store_txn_fn fn, void *arg)
{
	struct store_txn t;
	int ret, rc;

	if (st->mode == STORE_READ_ONLY)
		BUG("store_update on a read-only store");
	if (st->in_write)
		BUG("nested store_update");
	for (;;) {
		if ((ret = store_txn_begin(st, &t, 0)))
			return ret;
		st->in_write = 1;
		ret = fn(&t, arg);
		if (ret == 0 && !t.map_full) {
			/* A failed commit frees the transaction too. */
			rc = mdb_txn_commit(t.txn);
			t.txn = NULL;
			if (rc)
				ret = store_fail(st, &t, rc, "cannot commit");
		}
		if (t.txn)
			mdb_txn_abort(t.txn);
		st->open_txns--;
		st->in_write = 0;
		/* Whatever fn made of it, a full map means grow and rerun:
		 * nothing of this attempt was written. */
		if (!t.map_full)
			return ret;
		if ((ret = store_grow(st)))
			return ret;
	}
}

static int store_view_locked(struct store *st, store_txn_fn fn, void *arg);

int store_view(struct store *st, store_txn_fn fn, void *arg)
{
	int ret;

	pthread_mutex_lock(&st->mu);
	ret = store_view_locked(st, fn, arg);
	pthread_mutex_unlock(&st->mu);
	return ret;
}

static int store_view_locked(struct store *st, store_txn_fn fn, void *arg)
{
	struct store_txn t;
	int ret, rc;

	if ((ret = store_txn_begin(st, &t, 1)))
		return ret;
	ret = fn(&t, arg);
	if (ret == 0) {
		/* Commit rather than abort keeps table handles opened in
		 * this transaction (store_open's check) for later ones. */
		if ((rc = mdb_txn_commit(t.txn)))
			ret = store_fail(st, NULL, rc, "cannot end a read "
					 "transaction");
	} else {
		mdb_txn_abort(t.txn);
	}
	st->open_txns--;
	return ret;
}

static MDB_dbi store_dbi(struct store_txn *t, const char *table)
{
	size_t i;

	const struct store_layout *l = t->st->layout;

	for (i = 0; i < l->ntables; i++)
		if (!strcmp(l->tables[i], table))
			return t->st->dbi[i];
	BUG("unknown state store table \"%s\"", table);
}

static int store_check_key(struct store_txn *t, size_t klen)
{
	if (klen == 0)
		return error_set(FURROW_EINVAL, "state store %s: empty key",
				 t->st->dir);
	if (klen > LIMIT_STORE_KEY_BYTES)
		return error_set(FURROW_ELIMIT, "state store %s: a key of %zu "
				 "bytes is over LIMIT_STORE_KEY_BYTES (%d)",
				 t->st->dir, klen, LIMIT_STORE_KEY_BYTES);
	return 0;
}

int store_get(struct store_txn *t, const char *table, const void *key,
	      size_t klen, const void **val, size_t *vlen)
{
	MDB_dbi dbi = store_dbi(t, table);
	MDB_val k = { klen, (void *)key }, v;
	int ret, rc;

	*val = NULL;
	*vlen = 0;
	if ((ret = store_check_key(t, klen)))
		return ret;
	rc = mdb_get(t->txn, dbi, &k, &v);
	if (rc == MDB_NOTFOUND)
		return FURROW_ENOENT;
	if (rc)
		return store_fail(t->st, t, rc, "cannot read from table %s",
				  table);
	*val = v.mv_data;
	*vlen = v.mv_size;
	return 0;
}

int store_put(struct store_txn *t, const char *table, const void *key,
	      size_t klen, const void *val, size_t vlen)
{
	MDB_dbi dbi = store_dbi(t, table);
	MDB_val k = { klen, (void *)key }, v = { vlen, (void *)val };
	int ret, rc;

	if (t->rdonly)
		BUG("store_put in a read-only transaction");
	if ((ret = store_check_key(t, klen)))
		return ret;
	if (vlen > LIMIT_STORE_VALUE_BYTES)
		return error_set(FURROW_ELIMIT, "state store %s: a value of %zu "
				 "bytes is over LIMIT_STORE_VALUE_BYTES (%u)",
				 t->st->dir, vlen, LIMIT_STORE_VALUE_BYTES);
	if ((rc = mdb_put(t->txn, dbi, &k, &v, 0)))
		return store_fail(t->st, t, rc, "cannot write to table %s",
				  table);
	return 0;
}

int store_del(struct store_txn *t, const char *table, const void *key,
	      size_t klen)
{
	MDB_dbi dbi = store_dbi(t, table);
	MDB_val k = { klen, (void *)key };
	int ret, rc;

	if (t->rdonly)
		BUG("store_del in a read-only transaction");
	if ((ret = store_check_key(t, klen)))
		return ret;
	rc = mdb_del(t->txn, dbi, &k, NULL);
	if (rc == MDB_NOTFOUND)
		return FURROW_ENOENT;
	if (rc)
		return store_fail(t->st, t, rc, "cannot delete from table %s",
				  table);
	return 0;
}

int store_foreach(struct store_txn *t, const char *table, const void *prefix,
		  size_t plen, store_foreach_fn fn, void *arg)
{
	MDB_dbi dbi = store_dbi(t, table);
	MDB_cursor *cur = NULL;
	MDB_val k = { plen, (void *)prefix }, v;
	int ret = 0, rc;

	if ((rc = mdb_cursor_open(t->txn, dbi, &cur)))
		return store_fail(t->st, t, rc, "cannot walk table %s", table);
	rc = mdb_cursor_get(cur, &k, &v, plen ? MDB_SET_RANGE : MDB_FIRST);
	while (rc == 0) {
		if (k.mv_size < plen ||
		    (plen && memcmp(k.mv_data, prefix, plen) != 0))
			break;
		if ((ret = fn(k.mv_data, k.mv_size, v.mv_data, v.mv_size, arg)))
			goto out;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (rc && rc != MDB_NOTFOUND)
		ret = store_fail(t->st, t, rc, "cannot walk table %s", table);
out:
	mdb_cursor_close(cur);
	return ret;
}

int store_foreach_rev(struct store_txn *t, const char *table,
		      store_foreach_fn fn, void *arg)
{
	MDB_dbi dbi = store_dbi(t, table);
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int ret = 0, rc;

	if ((rc = mdb_cursor_open(t->txn, dbi, &cur)))
		return store_fail(t->st, t, rc, "cannot walk table %s", table);
	rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	while (rc == 0) {
		if ((ret = fn(k.mv_data, k.mv_size, v.mv_data, v.mv_size, arg)))
			goto out;
		rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
	}
	if (rc != MDB_NOTFOUND)
		ret = store_fail(t->st, t, rc, "cannot walk table %s", table);
out:
	mdb_cursor_close(cur);
	return ret;
}

struct store_one {
	const char *table;
	const void *key, *val;
	size_t klen, vlen;
	struct strbuf *out;
};

static int store_get_copy_fn(struct store_txn *t, void *arg)
{
	struct store_one *o = arg;
	const void *val;
	size_t vlen;
	int ret;

	if ((ret = store_get(t, o->table, o->key, o->klen, &val, &vlen)))
		return ret;
	strbuf_reset(o->out);
	strbuf_add(o->out, val, vlen);
	return 0;
}

int store_get_copy(struct store *st, const char *table, const void *key,
		   size_t klen, struct strbuf *out)
{
	struct store_one o = { table, key, NULL, klen, 0, out };

	return store_view(st, store_get_copy_fn, &o);
}

static int store_put1_fn(struct store_txn *t, void *arg)
{
	struct store_one *o = arg;

	return store_put(t, o->table, o->key, o->klen, o->val, o->vlen);
}

int store_put1(struct store *st, const char *table, const void *key,
	       size_t klen, const void *val, size_t vlen)
{
	struct store_one o = { table, key, val, klen, vlen, NULL };

	return store_update(st, store_put1_fn, &o);
}

/* ---- schema ---- */

static int store_write_version(struct store_txn *t, unsigned version)
{
	char num[16];
	int len = snprintf(num, sizeof(num), "%u", version);

	return store_put(t, "meta", key_version, KEYLEN(key_version), num,
			 (size_t)len);
}

/* The version 1 layout: "meta" holding only schema_version. */
static int store_write_v1(struct store_txn *t, unsigned version)
{
	int rc = mdb_dbi_open(t->txn, t->st->layout->tables[TABLE_META], MDB_CREATE,
			      &t->st->dbi[TABLE_META]);

	if (rc)
		return store_fail(t->st, t, rc, "cannot create table meta");
	return store_write_version(t, version);
}

/* Open "meta": 0 if it exists, 1 if the store is empty (new), or an
 * error for a database that is not a furrow store. */
static int store_find_meta(struct store_txn *t)
{
	MDB_dbi main_dbi;
	MDB_stat ms;
	int rc;

	rc = mdb_dbi_open(t->txn, t->st->layout->tables[TABLE_META], 0,
			  &t->st->dbi[TABLE_META]);
	if (rc == 0)
		return 0;
	if (rc != MDB_NOTFOUND)
		return store_fail(t->st, t, rc, "cannot open table meta");
	if ((rc = mdb_dbi_open(t->txn, NULL, 0, &main_dbi)) ||
	    (rc = mdb_stat(t->txn, main_dbi, &ms)))
		return store_fail(t->st, t, rc, "cannot inspect the database");
	if (ms.ms_entries == 0)
		return 1;
	return error_set(FURROW_ESYNTAX, "state store %s is not a furrow "
			 "store (it has no meta table)", t->st->dir);
}

static int store_read_version(struct store_txn *t, unsigned *out)
{
	struct strbuf shown = STRBUF_INIT;
	const char *s;
	const void *val;
	size_t n, i;
	unsigned v = 0;
	int ret;

	ret = store_get(t, "meta", key_version, KEYLEN(key_version), &val, &n);
	if (ret == FURROW_ENOENT)
		return error_set(FURROW_ESYNTAX, "state store %s has no schema "
				 "version", t->st->dir);
	if (ret)
		return ret;
	/* Decimal, no sign, no leading zero, at most 9 digits: no overflow. */
	s = val;
	for (i = 0; i < n && i < 9 && s[i] >= '0' && s[i] <= '9'; i++)
		v = v * 10 + (unsigned)(s[i] - '0');
	if (n == 0 || i != n || s[0] == '0') {
		strbuf_add_json_string(&shown, s, n > 32 ? 32 : n);
		ret = error_set(FURROW_ESYNTAX, "state store %s has a garbled "
				"schema version %s%s", t->st->dir, shown.buf,
				n > 32 ? "..." : "");
		strbuf_release(&shown);
		return ret;
	}
	*out = v;
	return 0;
}

static int store_open_tables(struct store_txn *t, unsigned flags)
{
	size_t i;
	int rc;

	const struct store_layout *l = t->st->layout;

	for (i = 0; i < l->ntables; i++) {
		rc = mdb_dbi_open(t->txn, l->tables[i], flags, &t->st->dbi[i]);
		if (rc)
			return store_fail(t->st, t, rc, "cannot open table %s",
					  l->tables[i]);
	}
	return 0;
}

static int store_random(void *buf, size_t n)
{
	size_t got = 0;
	ssize_t r;

	while (got < n) {
		r = getrandom((char *)buf + got, n - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return error_errno(FURROW_EIO, "getrandom");
		got += (size_t)r;
	}
	return 0;
}

/* 1 -> 2: a stable random identity for this state dir (later used in
 * report idempotency keys) and when the store was created. */
static int store_migrate_1_to_2(struct store_txn *t)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char raw[16];
	char hex[2 * sizeof(raw)], num[24];
	size_t i;
	int ret, len;

	if ((ret = store_random(raw, sizeof(raw))))
		return ret;
	for (i = 0; i < sizeof(raw); i++) {
		hex[2 * i] = digits[raw[i] >> 4];
		hex[2 * i + 1] = digits[raw[i] & 15];
	}
	if ((ret = store_put(t, "meta", key_instance, KEYLEN(key_instance),
			     hex, sizeof(hex))))
		return ret;
	len = snprintf(num, sizeof(num), "%lld", (long long)time(NULL));
	return store_put(t, "meta", key_created, KEYLEN(key_created), num,
			 (size_t)len);
}

/* 2 -> 3: the "sync" table (created with every listed table by
 * store_open_tables()); nothing to convert, the version records that a
 * store may now hold an accepted commit that older furrows would ignore. */
static int store_migrate_2_to_3(struct store_txn *t)
{
	(void)t;
	return 0;
}

/* 3 -> 4: the "apps" table, the applied state the planner compares the
 * desired apps with; empty until something is applied. */
static int store_migrate_3_to_4(struct store_txn *t)
{
	(void)t;
	return 0;
}

/* 4 -> 5: the "journal" and "history" tables of the apply engine
 * (journal.h); both start empty. */
static int store_migrate_4_to_5(struct store_txn *t)
{
	(void)t;
	return 0;
}

/* 5 -> 6: the "runtime" table of the apply engine (apply_state.c): what
 * the last pass saw of each app; starts empty. */
static int store_migrate_5_to_6(struct store_txn *t)
{
	(void)t;
	return 0;
}

/* 6 -> 7: the "outbox" and "deadletter" tables of the report sender;
 * both start empty. */
static int store_migrate_6_to_7(struct store_txn *t)
{
	(void)t;
	return 0;
}

/* Each step takes a store at `from` to `to`; run in order, all in the one
 * transaction of store_open(), so a store is never left half-migrated. */
static const struct store_migration {
	unsigned from, to;
	int (*fn)(struct store_txn *t);
} state_migrations[] = {
	{ 1, 2, store_migrate_1_to_2 },
	{ 2, 3, store_migrate_2_to_3 },
	{ 3, 4, store_migrate_3_to_4 },
	{ 4, 5, store_migrate_4_to_5 },
	{ 5, 6, store_migrate_5_to_6 },
	{ 6, 7, store_migrate_6_to_7 },
};

/* 1 -> 2 of the backup store: its own instance id and creation time, as
 * the state store's 1 -> 2. */
static const struct store_migration backup_migrations[] = {
	{ 1, 2, store_migrate_1_to_2 },
};


#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
static const struct store_layout store_layouts[] = {
	[STORE_KIND_STATE] = { "db", "furrow.lock", "state dir", 0,
			       state_tables, COUNT(state_tables),
			       STORE_SCHEMA_VERSION, state_migrations,
			       COUNT(state_migrations) },
	[STORE_KIND_BACKUP] = { "backup", "backup.lock", "backup store", 1,
				backup_tables, COUNT(backup_tables),
				STORE_BACKUP_SCHEMA_VERSION, backup_migrations,
				COUNT(backup_migrations) },
};

static const struct store_layout *store_layout_of(const struct store_options *o)
{
	enum store_kind k = o ? o->kind : STORE_KIND_STATE;

	if ((unsigned)k >= COUNT(store_layouts))
		BUG("unknown store kind %d", (int)k);
	return &store_layouts[k];
}


/*
 * The transaction store_open() runs: check the schema and, read-write,
 * create and migrate.  The read-only opener can do neither, so it
 * insists on the current version.
 */
static int store_setup_fn(struct store_txn *t, void *arg)
{
	const struct store_migration *m;
	unsigned v;
	size_t i;
	int ret;

	(void)arg;
	ret = store_find_meta(t);
	if (ret == 1 && t->rdonly)
		return error_set(FURROW_ENOENT, "state store %s is empty (not "
				 "yet set up by a read-write furrow)",
				 t->st->dir);
	/* A new store is written at version 1 and migrated like an old one,
	 * so every migration runs on every new store. */
	if (ret == 1)
		ret = store_write_v1(t, 1);
	if (ret || (ret = store_read_version(t, &v)))
		return ret;
	if (v > t->st->layout->version)
		return error_set(FURROW_EVERSION, "state store %s has schema "
				 "version %u, this furrow understands up to %u; "
				 "refusing to open (upgrade furrow)",
				 t->st->dir, v, t->st->layout->version);
	if (v < t->st->layout->version && t->rdonly)
		return error_set(FURROW_EVERSION, "state store %s has schema "
				 "version %u and needs migrating to %u; open it "
				 "read-write first", t->st->dir, v,
				 t->st->layout->version);
	while (v < t->st->layout->version) {
		m = NULL;
		for (i = 0; i < t->st->layout->nmigrations; i++)
			if (t->st->layout->migrations[i].from == v)
				m = &t->st->layout->migrations[i];
		if (!m || m->to <= v)
			BUG("no migration from schema version %u", v);
		if ((ret = m->fn(t)))
			return error_prefix(ret, "state store %s: migration from "
					    "schema %u to %u", t->st->dir,
					    m->from, m->to);
		v = m->to;
		if ((ret = store_write_version(t, v)))
			return ret;
	}
	return store_open_tables(t, t->rdonly ? 0 : MDB_CREATE);
}

int store_open(struct store **out, const char *state_dir,
	       const struct store_options *opts)
{
	struct store *st;
	int ret, fresh;

	*out = NULL;
	if ((ret = store_open_env(&st, state_dir, opts, &fresh)))
		return ret;
	if (st->mode == STORE_READ_ONLY)
		ret = store_view(st, store_setup_fn, NULL);
	else
		ret = store_update(st, store_setup_fn, NULL);
	if (ret) {
		store_free(st);
		return ret;
	}
	*out = st;
	return 0;
}

void store_free(struct store *st)
{
	struct store **pp;

	if (!st)
		return;
	if (st->open_txns)
		BUG("store_free with %d transactions open", st->open_txns);
	for (pp = &store_registry; *pp; pp = &(*pp)->next_open) {
		if (*pp == st) {
			*pp = st->next_open;
			break;
		}
	}
	if (st->env)
		mdb_env_close(st->env);
	if (st->lock_fd >= 0) {
		/* Forget our pid before the lock goes with the close. */
		(void)!ftruncate(st->lock_fd, 0);
		close(st->lock_fd);
	}
	free(st->dir);
	pthread_mutex_destroy(&st->mu);
	free(st);
}

static int store_schema_fn(struct store_txn *t, void *arg)
{
	return store_read_version(t, arg);
}

int store_schema_version(struct store *st, unsigned *out)
{
	return store_view(st, store_schema_fn, out);
}

int store_writable(const struct store *st)
{
	return st->mode == STORE_READ_WRITE;
}

int store_map_size(struct store *st, size_t *out)
{
	MDB_envinfo info;
	int rc;

	*out = 0;
	if (st->broken)
		return error_set(FURROW_EIO, "state store %s is unusable after "
				 "a failed map resize", st->dir);
	if ((rc = mdb_env_info(st->env, &info)))
		return store_fail(st, NULL, rc, "cannot read the map size");
	*out = info.me_mapsize;
	return 0;
}

/* LMDB does not tell where its map is (mdb_env_info's address is only
 * set for MDB_FIXEDMAP): find the mappings of data.mdb's inode, again
 * only after the map was resized. */
static void store_find_map(struct store *st, size_t mapsize)
{
	char line[4352];
	FILE *f = fopen("/proc/self/maps", "re");

	st->nmaps = 0;
	st->map_seen = mapsize;
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi, off;
		unsigned long long ino;
		char perms[8], dev[16];

		if (st->nmaps < STORE_TRIM_MAPS &&
		    sscanf(line, "%lx-%lx %7s %lx %15s %llu", &lo, &hi, perms,
			   &off, dev, &ino) == 6 && ino == st->data_ino &&
		    strstr(line, "/data.mdb")) {
			st->maps[st->nmaps].at = (void *)lo;
			st->maps[st->nmaps].len = hi - lo;
			st->nmaps++;
		}
	}
	if (f)
		fclose(f);
}

void store_trim_resident(struct store *st)
{
	MDB_envinfo info;
	size_t i;

	if (!st->data_ino)
		return;
	pthread_mutex_lock(&st->mu);
	if (!st->broken && !mdb_env_info(st->env, &info)) {
		if (info.me_mapsize != st->map_seen)
			store_find_map(st, info.me_mapsize);
		/* Safe at any time: the map is read-only and shared (no
		 * MDB_WRITEMAP), so a dropped page faults back in from the
		 * page cache with the same content at the same address. */
		for (i = 0; i < st->nmaps; i++)
			(void)madvise(st->maps[i].at, st->maps[i].len,
				      MADV_DONTNEED);
	}
	pthread_mutex_unlock(&st->mu);
}

const char *store_lmdb_version(void)
{
	static char buf[32];
	int major, minor, patch;

	if (!buf[0]) {
		mdb_version(&major, &minor, &patch);
		snprintf(buf, sizeof(buf), "%d.%d.%d", major, minor, patch);
	}
	return buf;
}

static int store_create_fn(struct store_txn *t, void *arg)
{
	return store_write_v1(t, *(unsigned *)arg);
}

int store_create_at_version(const char *state_dir, unsigned version)
{
	struct store *st;
	int ret, fresh;

	if ((ret = store_open_env(&st, state_dir, NULL, &fresh)))
		return ret;
	if (!fresh)
		ret = error_set(FURROW_EINVAL, "state store %s already exists",
				state_dir);
	else
		ret = store_update(st, store_create_fn, &version);
	store_free(st);
	return ret;
}
