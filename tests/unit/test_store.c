/*
 * test_store.c - the LMDB state store (core/store.c).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "limits.h"
#include "store.h"
#include "strbuf.h"
#include "tap.h"
#include "banned.h"

#define CHUNK (16u * 1024)

static const char *dir_named(const char *name)
{
	static char bufs[8][512];
	static int next;
	char *b = bufs[next++ % 8];

	snprintf(b, sizeof(bufs[0]), "%s/%s", tap_tmpdir(), name);
	return b;
}

static const char *file_in(const char *dir, const char *leaf)
{
	static char bufs[4][600];
	static int next;
	char *b = bufs[next++ % 4];

	snprintf(b, sizeof(bufs[0]), "%s/%s", dir, leaf);
	return b;
}

static int mode_of(const char *path)
{
	struct stat sb;

	return stat(path, &sb) < 0 ? -1 : (int)(sb.st_mode & 07777);
}

static int get_str(struct store *st, const char *key, struct strbuf *out)
{
	return store_get_copy(st, "meta", key, strlen(key), out);
}

static int put_str(struct store *st, const char *key, const char *val)
{
	return store_put1(st, "meta", key, strlen(key), val, strlen(val));
}

static int has_msg(const char *needle)
{
	return strstr(error_message(), needle) != NULL;
}

/* ---- put/get/del/foreach ---- */

struct walk {
	struct strbuf seen;
	int stop_after;
	int calls;
};

static int walk_fn(const void *key, size_t klen, const void *val,
		   size_t vlen, void *arg)
{
	struct walk *w = arg;

	strbuf_add(&w->seen, key, klen);
	strbuf_addch(&w->seen, '=');
	strbuf_add(&w->seen, val, vlen);
	strbuf_addch(&w->seen, ';');
	return ++w->calls == w->stop_after ? 42 : 0;
}

static int walk_txn(struct store_txn *txn, void *arg)
{
	return store_foreach(txn, "meta", "k", 1, walk_fn, arg);
}

static int walk_all_txn(struct store_txn *txn, void *arg)
{
	return store_foreach(txn, "meta", NULL, 0, walk_fn, arg);
}

static int walk_rev_txn(struct store_txn *txn, void *arg)
{
	return store_foreach_rev(txn, "meta", walk_fn, arg);
}

static int txn_ops(struct store_txn *txn, void *arg)
{
	const void *v;
	size_t n;
	int ret;

	(void)arg;
	if ((ret = store_put(txn, "meta", "kb", 2, "2", 1)) ||
	    (ret = store_put(txn, "meta", "ka", 2, "1", 1)) ||
	    (ret = store_put(txn, "meta", "kc", 2, "3", 1)) ||
	    (ret = store_put(txn, "meta", "l", 1, "x", 1)) ||
	    (ret = store_put(txn, "meta", "j", 1, "y", 1)))
		return ret;
	/* Visible inside the same transaction. */
	if ((ret = store_get(txn, "meta", "kb", 2, &v, &n)))
		return ret;
	return n == 1 && memcmp(v, "2", 1) == 0 ? 0 : FURROW_ERR;
}

static int txn_fail(struct store_txn *txn, void *arg)
{
	int ret = store_put(txn, "meta", "ghost", 5, "boo", 3);

	(void)arg;
	return ret ? ret : error_set(FURROW_EINVAL, "callback says no");
}

static int txn_del(struct store_txn *txn, void *arg)
{
	(void)arg;
	return store_del(txn, "meta", "kb", 2);
}

static int txn_get_missing(struct store_txn *txn, void *arg)
{
	const void *v = "x";
	size_t n = 9;
	int ret = store_get(txn, "meta", "nope", 4, &v, &n);

	*(int *)arg = v == NULL && n == 0;
	return ret;
}

static void test_basic(void)
{
	const char *dir = dir_named("basic");
	struct strbuf sb = STRBUF_INIT;
	struct walk w = { STRBUF_INIT, 0, 0 };
	struct store *st = NULL;
	unsigned version = 0;
	int cleared = 0, ret;
	char pidtxt[32];

	ret = store_open(&st, dir, NULL);
	is_int(ret, 0, "open creates a new store");
	if (ret) {
		tap_diag("%s", error_message());
		return;
	}
	is_int(mode_of(dir), 0700, "state_dir created 0700");
	is_int(mode_of(file_in(dir, "db")), 0700, "db dir created 0700");
	is_int(mode_of(file_in(dir, "furrow.lock")), 0600,
	       "lock file created 0600");
	strbuf_reset(&sb);
	ret = strbuf_read_file(&sb, file_in(dir, "furrow.lock"), 64);
	snprintf(pidtxt, sizeof(pidtxt), "%ld\n", (long)getpid());
	ok(ret == 0 && strcmp(sb.buf, pidtxt) == 0, "lock file holds our pid");

	is_int(store_schema_version(st, &version), 0, "schema version reads");
	is_int(version, STORE_SCHEMA_VERSION, "new store is at the current schema");

	is_int(store_update(st, txn_ops, NULL), 0, "puts in one transaction");
	strbuf_reset(&sb);
	is_int(store_get_copy(st, "meta", "ka", 2, &sb), 0, "get_copy ka");
	is_str(sb.buf, "1", "ka reads back");

	is_int(store_view(st, walk_txn, &w), 0, "foreach with prefix");
	is_str(w.seen.buf, "ka=1;kb=2;kc=3;", "prefix walk in key order, bounded");
	strbuf_reset(&w.seen);
	w.calls = 0;
	w.stop_after = 2;
	is_int(store_view(st, walk_all_txn, &w), 42, "foreach stop code returned");
	ok(w.calls == 2 && !strncmp(w.seen.buf, "created_at=", 11) &&
	   strstr(w.seen.buf, ";instance_id=") && !strstr(w.seen.buf, "j="),
	   "walk stops after the callback says so: %s", w.seen.buf);
	strbuf_reset(&w.seen);
	w.calls = 0;
	w.stop_after = 0;
	is_int(store_view(st, walk_all_txn, &w), 0, "foreach whole table");
	ok(strstr(w.seen.buf, "j=y;ka=1;kb=2;kc=3;l=x;") != NULL &&
	   strstr(w.seen.buf, "instance_id=") != NULL &&
	   strstr(w.seen.buf, "schema_version=7;") != NULL,
	   "whole-table walk sees every key: %s", w.seen.buf);
	strbuf_reset(&w.seen);
	w.calls = 0;
	is_int(store_view(st, walk_rev_txn, &w), 0, "reverse walk");
	ok(strstr(w.seen.buf, "l=x;kc=3;kb=2;ka=1;j=y;") != NULL,
	   "reverse walk goes from the last key back: %s", w.seen.buf);
	strbuf_reset(&w.seen);
	w.calls = 0;
	w.stop_after = 1;
	is_int(store_view(st, walk_rev_txn, &w), 42,
	       "reverse walk stops when the callback says so");
	ok(w.calls == 1 && !strncmp(w.seen.buf, "schema_version=", 15),
	   "... after the last key only: %s", w.seen.buf);
	w.stop_after = 0;

	is_int(store_update(st, txn_fail, NULL), FURROW_EINVAL,
	       "callback error is returned");
	is_int(get_str(st, "ghost", &sb), FURROW_ENOENT,
	       "failed callback's writes are not committed");

	is_int(store_update(st, txn_del, NULL), 0, "del existing");
	is_int(store_update(st, txn_del, NULL), FURROW_ENOENT, "del missing");
	is_int(store_get_copy(st, "meta", "kb", 2, &sb), FURROW_ENOENT,
	       "deleted key is gone");
	is_int(store_view(st, txn_get_missing, &cleared), FURROW_ENOENT,
	       "get missing");
	ok(cleared, "get missing clears val and vlen");

	is_int(store_put1(st, "meta", "", 0, "v", 1), FURROW_EINVAL,
	       "empty key refused");
	ok(strncmp(store_lmdb_version(), "0.9.", 4) == 0,
	   "lmdb version: %s", store_lmdb_version());

	store_free(st);
	store_free(NULL);

	/* Persistence across reopen. */
	ret = store_open(&st, dir, NULL);
	is_int(ret, 0, "reopen");
	if (!ret) {
		strbuf_reset(&sb);
		is_int(get_str(st, "kc", &sb), 0, "value persists");
		is_str(sb.buf, "3", "value persists intact");
		is_int(get_str(st, "kb", &sb), FURROW_ENOENT,
		       "delete persists");
	}
	store_free(st);
	strbuf_release(&sb);
	strbuf_release(&w.seen);
}

/* ---- limits ---- */

static void test_limits(void)
{
	const char *dir = dir_named("limits");
	struct strbuf sb = STRBUF_INIT;
	struct store *st = NULL;
	char key[LIMIT_STORE_KEY_BYTES + 1];
	char *big;
	int ret;

	memset(key, 'k', sizeof(key));
	if ((ret = store_open(&st, dir, NULL))) {
		ok(0, "open limits store: %s", error_message());
		return;
	}
	is_int(store_put1(st, "meta", key, LIMIT_STORE_KEY_BYTES, "v", 1), 0,
	       "key of exactly LIMIT_STORE_KEY_BYTES is fine");
	is_int(store_get_copy(st, "meta", key, LIMIT_STORE_KEY_BYTES, &sb), 0,
	       "max-size key reads back");
	is_int(store_put1(st, "meta", key, sizeof(key), "v", 1), FURROW_ELIMIT,
	       "oversize key on put");
	ok(has_msg("LIMIT_STORE_KEY_BYTES"), "message names the limit: %s",
	   error_message());
	is_int(store_get_copy(st, "meta", key, sizeof(key), &sb), FURROW_ELIMIT,
	       "oversize key on get");
	big = calloc(1, LIMIT_STORE_VALUE_BYTES + 1u);
	if (big) {
		is_int(store_put1(st, "meta", "big", 3, big,
				  LIMIT_STORE_VALUE_BYTES + 1u), FURROW_ELIMIT,
		       "oversize value");
		ok(has_msg("LIMIT_STORE_VALUE_BYTES"),
		   "message names the value limit: %s", error_message());
		free(big);
	}
	store_free(st);
	strbuf_release(&sb);
}

/* ---- map growth ---- */

static void fill_chunk(char *buf, unsigned i)
{
	unsigned j;

	for (j = 0; j < CHUNK; j++)
		buf[j] = (char)((i * 131u + j * 7u) & 0xff);
}

struct fill {
	unsigned from, count;
};

static int fill_txn(struct store_txn *txn, void *arg)
{
	struct fill *f = arg;
	char key[32], buf[CHUNK];
	unsigned i;
	int ret, len;

	for (i = f->from; i < f->from + f->count; i++) {
		len = snprintf(key, sizeof(key), "chunk%06u", i);
		fill_chunk(buf, i);
		if ((ret = store_put(txn, "meta", key, (size_t)len, buf,
				     sizeof(buf))))
			return ret;
	}
	return 0;
}

static int check_chunks(struct store *st, unsigned from, unsigned count)
{
	struct strbuf sb = STRBUF_INIT;
	char key[32], buf[CHUNK];
	unsigned i, bad = 0;
	int len;

	for (i = from; i < from + count; i++) {
		len = snprintf(key, sizeof(key), "chunk%06u", i);
		fill_chunk(buf, i);
		if (store_get_copy(st, "meta", key, (size_t)len, &sb) ||
		    sb.len != CHUNK || memcmp(sb.buf, buf, CHUNK) != 0)
			bad++;
	}
	strbuf_release(&sb);
	return bad == 0;
}

static void test_growth(void)
{
	const char *dir = dir_named("grow");
	struct store_options o = { STORE_READ_WRITE, 64 * 1024, 0, STORE_KIND_STATE };
	struct store *st = NULL;
	struct fill f;
	size_t before = 0, after = 0;
	int ret, i;

	if ((ret = store_open(&st, dir, &o))) {
		ok(0, "open with a 64 KiB map: %s", error_message());
		return;
	}
	store_map_size(st, &before);
	ok(before <= 64 * 1024, "map starts at 64 KiB (%zu)", before);
	/* 4 MiB in four transactions, then 4 MiB more in one. */
	for (i = 0, ret = 0; i < 4 && !ret; i++) {
		f.from = (unsigned)i * 64;
		f.count = 64;
		ret = store_update(st, fill_txn, &f);
	}
	is_int(ret, 0, "4 MiB in several transactions");
	f.from = 256;
	f.count = 256;
	ret = store_update(st, fill_txn, &f);
	is_int(ret, 0, "4 MiB in one transaction");
	if (ret)
		tap_diag("%s", error_message());
	store_map_size(st, &after);
	ok(after >= 8 * 1024 * 1024, "map grew from %zu to %zu", before, after);
	ok(check_chunks(st, 0, 512), "all 8 MiB read back intact");
	store_free(st);

	if ((ret = store_open(&st, dir, &o))) {
		ok(0, "reopen grown store: %s", error_message());
		return;
	}
	store_map_size(st, &before);
	ok(before >= after, "reopen keeps the grown map (%zu)", before);
	ok(check_chunks(st, 0, 512), "data intact after reopen");
	store_free(st);
}

/* Deferred commits: visible at once, rerun after the map grows like any
 * other, and kept when the process dies without closing the store (only
 * a system crash may undo the last ones, which a unit test cannot make). */
static void test_deferred(void)
{
	const char *dir = dir_named("deferred");
	struct store_options o = { STORE_READ_WRITE, 64 * 1024, 0, STORE_KIND_STATE };
	struct store *st = NULL;
	struct fill f;
	int ret, i, status = -1;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		if (store_open(&st, dir, &o))
			_exit(2);
		for (i = 0; i < 4; i++) {
			f.from = (unsigned)i * 64;
			f.count = 64;
			if (store_update_deferred(st, fill_txn, &f))
				_exit(3);
		}
		if (!check_chunks(st, 0, 256))
			_exit(4);
		_exit(0);       /* no store_free(): as if killed */
	}
	if (pid > 0 && waitpid(pid, &status, 0) != pid)
		status = -1;
	ok(pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "a child's deferred commits, growing "
	   "the map from 64 KiB to 4 MiB, read back (exit %d)",
	   WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	if ((ret = store_open(&st, dir, &o))) {
		ok(0, "open after the child: %s", error_message());
		return;
	}
	ok(check_chunks(st, 0, 256), "its 4 MiB are there after it died");
	f.from = 256;
	f.count = 16;
	is_int(store_update(st, fill_txn, &f), 0, "a durable commit after them");
	f.from = 272;
	f.count = 16;
	is_int(store_update_deferred(st, fill_txn, &f), 0, "and a deferred one");
	store_free(st);
	if ((ret = store_open(&st, dir, &o))) {
		ok(0, "reopen: %s", error_message());
		return;
	}
	ok(check_chunks(st, 0, 288), "all of it after a reopen");
	store_free(st);
}

static void test_growth_max(void)
{
	const char *dir = dir_named("growmax");
	struct store_options o = { STORE_READ_WRITE, 64 * 1024, 512 * 1024, STORE_KIND_STATE };
	struct store *st = NULL;
	struct strbuf sb = STRBUF_INIT;
	struct fill f = { 0, 8 };
	size_t size = 0;
	int ret;

	if ((ret = store_open(&st, dir, &o))) {
		ok(0, "open with max 512 KiB: %s", error_message());
		return;
	}
	is_int(store_update(st, fill_txn, &f), 0, "128 KiB fits after growth");
	f.from = 100;
	f.count = 64;
	is_int(store_update(st, fill_txn, &f), FURROW_ELIMIT,
	       "1 MiB transaction hits the maximum map size");
	ok(has_msg("maximum") && has_msg(dir), "message says so: %s",
	   error_message());
	store_map_size(st, &size);
	is_int(size, 512 * 1024, "map stopped at the maximum");
	ok(check_chunks(st, 0, 8), "earlier data intact");
	is_int(get_str(st, "chunk000100", &sb), FURROW_ENOENT,
	       "nothing of the failed transaction was written");
	is_int(put_str(st, "small", "still works"), 0,
	       "store still usable after the limit");
	store_free(st);
	strbuf_release(&sb);

	o.initial_map_bytes = 1024 * 1024;
	is_int(store_open(&st, dir, &o), FURROW_EINVAL,
	       "initial above maximum refused");
}

/* ---- single instance ---- */

static void test_lock_same_process(void)
{
	const char *dir = dir_named("lock1");
	struct store_options ro = { STORE_READ_ONLY, 0, 0, STORE_KIND_STATE };
	struct store *st = NULL, *st2 = NULL;
	char want[64];
	int ret;

	if ((ret = store_open(&st, dir, NULL))) {
		ok(0, "open lock1: %s", error_message());
		return;
	}
	ret = store_open(&st2, dir, NULL);
	is_int(ret, FURROW_EBUSY, "second writer in the same process");
	snprintf(want, sizeof(want), "(pid %ld)", (long)getpid());
	ok(has_msg(want) && has_msg("in use by another furrow"),
	   "message names the pid: %s", error_message());
	ok(st2 == NULL, "no handle on failure");
	/* LMDB forbids a second environment on one file in one process. */
	is_int(store_open(&st2, dir, &ro), FURROW_EBUSY,
	       "read-only second open in the same process refused");
	store_free(st);
	ret = store_open(&st, dir, NULL);
	is_int(ret, 0, "lock released by store_free");
	store_free(st);
}

/* The backup store: its own environment, lock and tables beside the
 * state store of the same state dir, in the same process. */
static void test_backup_kind(void)
{
	const char *dir = dir_named("bk");
	struct store_options bo = { STORE_READ_WRITE, 0, 0, STORE_KIND_BACKUP };
	struct store_options bro = { STORE_READ_ONLY, 0, 0, STORE_KIND_BACKUP };
	struct store *st = NULL, *bk = NULL, *bk2 = NULL;
	struct stat sb;
	unsigned v = 0;
	int ret;

	is_int(store_open(&bk2, dir, &bro), FURROW_ENOENT,
	       "read-only backup store before any exists: ENOENT");
	error_clear();
	if ((ret = store_open(&st, dir, NULL)) ||
	    (ret = store_open(&bk, dir, &bo))) {
		ok(0, "open state and backup stores: %s", error_message());
		store_free(st);
		return;
	}
	ok(stat(file_in(dir, "backup/data.mdb"), &sb) == 0 &&
	   stat(file_in(dir, "backup.lock"), &sb) == 0 &&
	   stat(file_in(dir, "db/data.mdb"), &sb) == 0,
	   "backup/ and backup.lock beside db/ and furrow.lock");
	ok(!store_schema_version(bk, &v) && v == STORE_BACKUP_SCHEMA_VERSION,
	   "backup store at its own schema version %u", v);
	is_int(store_put1(bk, "chunks", "k", 1, "v", 1), 0,
	       "the backup store has a chunks table");
	ret = store_open(&bk2, dir, &bo);
	is_int(ret, FURROW_EBUSY, "a second backup writer is refused");
	ok(has_msg("backup store"), "message says backup store: %s",
	   error_message());
	store_free(bk);
	store_free(st);
}

static int child_wait(int fd)
{
	char c = 0;

	return read(fd, &c, 1) == 1 ? c : -1;
}

static void child_say(int fd, char c)
{
	if (write(fd, &c, 1) != 1)
		_exit(3);
}

static void test_lock_other_process(void)
{
	const char *dir = dir_named("lock2");
	struct store *st = NULL;
	int up[2], down[2], status = 0, ret;
	char want[64];
	pid_t pid;

	if (pipe(up) < 0 || pipe(down) < 0) {
		ok(0, "pipe");
		return;
	}
	/* The child opens first; this process has no LMDB env on the dir. */
	pid = fork();
	if (pid == 0) {
		struct store *cst = NULL;

		close(up[0]);
		close(down[1]);
		ret = store_open(&cst, dir, NULL);
		if (ret)
			fprintf(stderr, "# child: %s\n", error_message());
		child_say(up[1], ret ? 'n' : 'y');
		child_wait(down[0]);
		store_free(cst);
		_exit(0);
	}
	close(up[1]);
	close(down[0]);
	is_int(child_wait(up[0]), 'y', "child process opens and holds the lock");
	ret = store_open(&st, dir, NULL);
	is_int(ret, FURROW_EBUSY, "writer refused while another process holds it");
	snprintf(want, sizeof(want), "(pid %ld)", (long)pid);
	ok(has_msg(want), "message names the child's pid: %s", error_message());
	store_free(st);
	child_say(down[1], 'x');
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child exited cleanly");
	ret = store_open(&st, dir, NULL);
	is_int(ret, 0, "writer succeeds once the child is gone");
	store_free(st);
	close(up[0]);
	close(down[1]);
}

/* A reader in another process, while this process writes and grows the
 * map under it (LMDB tells the reader MDB_MAP_RESIZED). */
static void test_reader_beside_writer(void)
{
	const char *dir = dir_named("reader");
	struct store_options o = { STORE_READ_WRITE, 64 * 1024, 0, STORE_KIND_STATE };
	struct store *st = NULL;
	struct fill f = { 0, 128 };
	int up[2], down[2], status = 0, ret;
	pid_t pid;

	if ((ret = store_open(&st, dir, &o)) || (ret = put_str(st, "a", "A"))) {
		ok(0, "open reader store: %s", error_message());
		store_free(st);
		return;
	}
	if (pipe(up) < 0 || pipe(down) < 0) {
		ok(0, "pipe");
		store_free(st);
		return;
	}
	pid = fork();
	if (pid == 0) {
		/* Never touch the parent's handle here: LMDB does not cross
		 * fork().  Open a fresh, read-only one. */
		struct store_options ro = { STORE_READ_ONLY, 0, 0, STORE_KIND_STATE };
		struct strbuf sb = STRBUF_INIT;
		struct store *cst = NULL;
		int ok1, ok2;

		close(up[0]);
		close(down[1]);
		ret = store_open(&cst, dir, &ro);
		ok1 = !ret && !get_str(cst, "a", &sb) && !strcmp(sb.buf, "A");
		if (!ok1)
			fprintf(stderr, "# child: %s\n", error_message());
		child_say(up[1], ok1 ? 'y' : 'n');
		child_wait(down[0]);
		ok2 = ok1 && !get_str(cst, "b", &sb) && !strcmp(sb.buf, "B") &&
		      check_chunks(cst, 0, 128);
		if (!ok2)
			fprintf(stderr, "# child: %s\n", error_message());
		child_say(up[1], ok2 ? 'y' : 'n');
		store_free(cst);
		strbuf_release(&sb);
		_exit(0);
	}
	close(up[1]);
	close(down[0]);
	is_int(child_wait(up[0]), 'y', "read-only open beside a writer");
	is_int(store_update(st, fill_txn, &f), 0, "writer grows the map to 2 MiB+");
	is_int(put_str(st, "b", "B"), 0, "writer adds a key");
	child_say(down[1], 'x');
	is_int(child_wait(up[0]), 'y', "reader sees new data after the map grew");
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "reader exited cleanly");
	store_free(st);
	close(up[0]);
	close(down[1]);
}

/* A reader killed inside a transaction leaves its slot in lock.mdb, which
 * pins every page freed after its snapshot.  store_open() clears such
 * slots (mdb_reader_check); without that, rewriting one value would grow
 * the file without bound.  Child A keeps the environment open meanwhile,
 * so LMDB does not simply reset the reader table on the next open. */
static int hang_txn(struct store_txn *txn, void *arg)
{
	(void)txn;
	child_say(*(int *)arg, 'y');
	for (;;)
		pause();
	return 0;
}

static void test_stale_reader(void)
{
	const char *dir = dir_named("stale");
	struct store_options ro = { STORE_READ_ONLY, 0, 0, STORE_KIND_STATE };
	struct store *st = NULL;
	struct stat sb = { 0 };
	char buf[CHUNK];
	int upa[2], downa[2], upb[2], i, ret, status = 0;
	pid_t a, b;

	if (store_open(&st, dir, NULL) || put_str(st, "a", "A")) {
		ok(0, "open stale store: %s", error_message());
		store_free(st);
		return;
	}
	store_free(st);
	st = NULL;
	if (pipe(upa) < 0 || pipe(downa) < 0 || pipe(upb) < 0) {
		ok(0, "pipe");
		return;
	}
	a = fork();
	if (a == 0) {
		struct store *cst = NULL;

		child_say(upa[1], store_open(&cst, dir, &ro) ? 'n' : 'y');
		child_wait(downa[0]);
		store_free(cst);
		_exit(0);
	}
	is_int(child_wait(upa[0]), 'y', "child A holds the environment open");
	b = fork();
	if (b == 0) {
		struct store *cst = NULL;

		if (store_open(&cst, dir, &ro))
			child_say(upb[1], 'n');
		store_view(cst, hang_txn, &upb[1]);
		_exit(1);
	}
	is_int(child_wait(upb[0]), 'y', "child B is inside a read transaction");
	kill(b, SIGKILL);
	waitpid(b, &status, 0);
	ok(WIFSIGNALED(status), "child B killed mid-transaction");

	ret = store_open(&st, dir, NULL);
	is_int(ret, 0, "writer opens beside child A");
	for (i = 0; !ret && i < 300; i++) {
		fill_chunk(buf, (unsigned)i);
		ret = store_put1(st, "meta", "x", 1, buf, sizeof(buf));
	}
	is_int(ret, 0, "300 rewrites of one 16 KiB value");
	ret = stat(file_in(dir, "db/data.mdb"), &sb);
	ok(ret == 0 && sb.st_size < 1024 * 1024,
	   "file stays small: the dead reader's slot was cleared (%lld bytes)",
	   (long long)sb.st_size);
	store_free(st);
	child_say(downa[1], 'x');
	waitpid(a, &status, 0);
	for (i = 0; i < 2; i++) {
		close(upa[i]);
		close(downa[i]);
		close(upb[i]);
	}
}

static void test_readonly_missing(void)
{
	const char *dir = dir_named("nothing");
	struct store_options ro = { STORE_READ_ONLY, 0, 0, STORE_KIND_STATE };
	struct store *st = NULL;

	is_int(store_open(&st, dir, &ro), FURROW_ENOENT,
	       "read-only on a missing store");
	ok(has_msg("does not exist"), "clear message: %s", error_message());
	ok(mode_of(dir) == -1 && errno == ENOENT,
	   "read-only open created nothing");
	ok(st == NULL, "no handle");
}

/* ---- schema and migrations ---- */

static int read_file(const char *path, struct strbuf *sb)
{
	strbuf_reset(sb);
	return strbuf_read_file(sb, path, 64u * 1024 * 1024);
}

static int is_hex32(const struct strbuf *sb)
{
	size_t i;

	if (sb->len != 32)
		return 0;
	for (i = 0; i < 32; i++)
		if (!strchr("0123456789abcdef", sb->buf[i]) || !sb->buf[i])
			return 0;
	return 1;
}

static void test_migrate_from_v1(void)
{
	const char *dir = dir_named("v1");
	struct strbuf id = STRBUF_INIT, sb = STRBUF_INIT;
	struct store *st = NULL;
	unsigned version = 0;
	long long created;
	time_t now = time(NULL);
	int ret;

	is_int(store_create_at_version(dir, 1), 0, "create a version 1 store");
	is_int(store_create_at_version(dir, 1), FURROW_EINVAL,
	       "create_at_version refuses an existing store");
	ret = store_open(&st, dir, NULL);
	is_int(ret, 0, "read-write open migrates version 1");
	if (ret) {
		tap_diag("%s", error_message());
		return;
	}
	store_schema_version(st, &version);
	is_int(version, STORE_SCHEMA_VERSION, "now at the current version");
	is_int(get_str(st, "instance_id", &id), 0, "instance_id present");
	ok(is_hex32(&id), "instance_id is 32 lowercase hex: %s", id.buf);
	is_int(get_str(st, "created_at", &sb), 0, "created_at present");
	created = strtoll(sb.buf, NULL, 10);
	ok(created >= (long long)now - 5 && created <= (long long)now + 5,
	   "created_at is now: %s", sb.buf);
	store_free(st);

	ret = store_open(&st, dir, NULL);
	is_int(ret, 0, "reopen");
	ok(!ret && !get_str(st, "instance_id", &sb) && !strcmp(sb.buf, id.buf),
	   "instance_id is stable across reopen");
	store_free(st);
	strbuf_release(&id);
	strbuf_release(&sb);
}

/* Build a version-1 store that also holds a user key: take a current one
 * and strip what migration 1->2 adds (through the public API). */
static int downgrade_txn(struct store_txn *txn, void *arg)
{
	int ret;

	(void)arg;
	if ((ret = store_del(txn, "meta", "instance_id", 11)) ||
	    (ret = store_del(txn, "meta", "created_at", 10)) ||
	    (ret = store_put(txn, "meta", "schema_version", 14, "1", 1)))
		return ret;
	return store_put(txn, "meta", "user", 4, "kept", 4);
}

static void test_migrate_keeps_user_data(void)
{
	const char *dir = dir_named("v1user");
	struct strbuf sb = STRBUF_INIT, old_id = STRBUF_INIT;
	struct store_options ro = { STORE_READ_ONLY, 0, 0, STORE_KIND_STATE };
	struct store *st = NULL;
	unsigned version = 0;
	int ret;

	if ((ret = store_open(&st, dir, NULL)) ||
	    (ret = get_str(st, "instance_id", &old_id)) ||
	    (ret = store_update(st, downgrade_txn, NULL))) {
		ok(0, "build a v1 store with a user key: %s", error_message());
		store_free(st);
		return;
	}
	store_schema_version(st, &version);
	is_int(version, 1, "store is back at version 1");
	store_free(st);

	is_int(store_open(&st, dir, &ro), FURROW_EVERSION,
	       "read-only open will not use an unmigrated store");
	ok(has_msg("needs migrating"), "message: %s", error_message());

	ret = store_open(&st, dir, NULL);
	is_int(ret, 0, "read-write open migrates");
	if (ret)
		return;
	store_schema_version(st, &version);
	is_int(version, STORE_SCHEMA_VERSION, "migrated to the current version");
	ok(store_put1(st, "sync", "k", 1, "v", 1) == 0,
	   "the sync table (migration 2->3) is usable");
	ok(!get_str(st, "user", &sb) && !strcmp(sb.buf, "kept"),
	   "user key preserved by the migration");
	ok(!get_str(st, "instance_id", &sb) && is_hex32(&sb) &&
	   strcmp(sb.buf, old_id.buf) != 0, "migration made a new instance_id");
	store_free(st);
	strbuf_release(&sb);
	strbuf_release(&old_id);
}

static void test_newer_version(void)
{
	const char *dir = dir_named("v7");
	const char *data = file_in(dir, "db/data.mdb");
	struct strbuf before = STRBUF_INIT, after = STRBUF_INIT;
	struct store_options ro = { STORE_READ_ONLY, 0, 0, STORE_KIND_STATE };
	struct store *st = NULL;

	is_int(store_create_at_version(dir, 8), 0, "create a version 8 store");
	is_int(read_file(data, &before), 0, "read data.mdb");
	is_int(store_open(&st, dir, NULL), FURROW_EVERSION,
	       "read-write open of a newer store");
	ok(has_msg("has schema version 8, this furrow understands up to 7") &&
	   has_msg("upgrade furrow") && has_msg(dir),
	   "message: %s", error_message());
	ok(st == NULL, "no handle");
	is_int(store_open(&st, dir, &ro), FURROW_EVERSION,
	       "read-only open of a newer store");
	is_int(read_file(data, &after), 0, "reread data.mdb");
	ok(before.len == after.len && before.len > 0 &&
	   memcmp(before.buf, after.buf, before.len) == 0,
	   "data.mdb unchanged (%zu bytes)", after.len);
	strbuf_release(&before);
	strbuf_release(&after);
}

static int drop_version_txn(struct store_txn *txn, void *arg)
{
	(void)arg;
	return store_del(txn, "meta", "schema_version", 14);
}

static void test_garbled_version(void)
{
	const char *dir0 = dir_named("v0");
	const char *dirx = dir_named("vx");
	const char *data = file_in(dirx, "db/data.mdb");
	struct strbuf before = STRBUF_INIT, after = STRBUF_INIT;
	struct store *st = NULL;

	is_int(store_create_at_version(dir0, 0), 0, "create a version 0 store");
	is_int(store_open(&st, dir0, NULL), FURROW_ESYNTAX,
	       "version 0 is garbled");
	ok(has_msg("garbled schema version \"0\""), "message: %s",
	   error_message());

	if (store_open(&st, dirx, NULL) ||
	    put_str(st, "schema_version", "2x\n")) {
		ok(0, "set up garbled store: %s", error_message());
		store_free(st);
		return;
	}
	store_free(st);
	st = NULL;
	read_file(data, &before);
	is_int(store_open(&st, dirx, NULL), FURROW_ESYNTAX,
	       "non-decimal version refused");
	ok(has_msg("garbled schema version \"2x\\n\""), "message: %s",
	   error_message());
	read_file(data, &after);
	ok(before.len == after.len && before.len > 0 &&
	   memcmp(before.buf, after.buf, before.len) == 0,
	   "garbled store unchanged");

	/* Missing version: repair with a valid one, then drop it. */
	store_free(st);
	st = NULL;
	if (store_create_at_version(dir_named("vmiss"), 2) ||
	    store_open(&st, dir_named("vmiss"), NULL) ||
	    store_update(st, drop_version_txn, NULL)) {
		ok(0, "set up versionless store: %s", error_message());
		store_free(st);
		return;
	}
	store_free(st);
	st = NULL;
	is_int(store_open(&st, dir_named("vmiss"), NULL), FURROW_ESYNTAX,
	       "missing version refused");
	ok(has_msg("has no schema version"), "message: %s", error_message());
	strbuf_release(&before);
	strbuf_release(&after);
}

/* ---- network filesystems ---- */

static void test_netfs(void)
{
	const char *name = NULL;

	ok(store_fs_is_network(0x6969, &name) && name && !strcmp(name, "NFS"),
	   "NFS refused");
	ok(store_fs_is_network((long)0xFF534D42, &name) &&
	   !strcmp(name, "CIFS"), "CIFS refused");
	/* On 32-bit glibc f_type is an int, so the magic arrives negative. */
	ok(store_fs_is_network((long)(int32_t)0xFE534D42u, &name) &&
	   !strcmp(name, "SMB2"), "SMB2 refused from a sign-extended f_type");
	ok(store_fs_is_network(0x517B, NULL), "SMB refused, name optional");
	ok(!store_fs_is_network(0xEF53, &name), "ext4 allowed");
	ok(!store_fs_is_network(0x01021994, &name), "tmpfs allowed");
	ok(!store_fs_is_network(0x58465342, &name), "xfs allowed");
	ok(!store_fs_is_network(0x65735546, &name), "FUSE allowed");
}

int main(void)
{
	test_netfs();
	test_basic();
	test_limits();
	test_growth();
	test_deferred();
	test_growth_max();
	test_lock_same_process();
	test_backup_kind();
	test_lock_other_process();
	test_reader_beside_writer();
	test_stale_reader();
	test_readonly_missing();
	test_migrate_from_v1();
	test_migrate_keeps_user_data();
	test_newer_version();
	test_garbled_version();
	return tap_done();
}
