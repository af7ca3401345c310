/*
 * backup_prune.c - retention (which snapshots to keep) and garbage
 * collection of chunks no snapshot references.
 *
 * Collection is mark and sweep: mark reads every record and manifest
 * (and refuses to sweep anything if one cannot be read: a chunk is only
 * garbage when provably unreferenced); sweep deletes in batches, each its
 * own transaction.  The backup store's writer lock keeps snapshots out
 * while it runs, so no chunk can gain a reference between mark and sweep.
 */
#include <stdlib.h>
#include <string.h>

#include "backup_int.h"
#include "error.h"
#include "log.h"
#include "store.h"
#include "strbuf.h"
#include "banned.h"

#define SWEEP_BATCH 1000

static int protected_tag(const char *tag)
{
	return !strcmp(tag, "failed-update") || !strcmp(tag, "before-rollback");
}

/* Which of app's snapshots (oldest first) to keep. */
static void choose(const struct backup_record *v, size_t n,
		   const struct backup_keep *k, long long now, int *keep)
{
	long long last_day = -1, last_week = -1;
	int last = 0, days = 0, weeks = 0;
	size_t i;

	(void)now;
	for (i = n; i-- > 0;) {
		long long day = v[i].info.time / 86400;
		long long week = (day + 3) / 7; /* weeks start on Monday */

		keep[i] = protected_tag(v[i].info.tag);
		if (keep[i])
			continue;
		if (last < k->last) {
			keep[i] = 1;
			last++;
		}
		if (day != last_day && days < k->daily) {
			keep[i] = 1;
			days++;
			last_day = day;
		}
		if (week != last_week && weeks < k->weekly) {
			keep[i] = 1;
			weeks++;
			last_week = week;
		}
	}
}

struct drop_arg {
	const uint64_t *ids;
	size_t n;
};

static int drop_fn(struct store_txn *t, void *arg)
{
	struct drop_arg *a = arg;
	char key[11], qk[12];
	size_t i;
	int ret;

	for (i = 0; i < a->n; i++) {
		snapshot_key(a->ids[i], key);
		qk[0] = 's';
		memcpy(qk + 1, key, 10);
		ret = store_del(t, "snapshots", key, 10);
		if (ret && ret != FURROW_ENOENT)
			return ret;
		ret = store_del(t, "offsite", qk, 11);
		if (ret && ret != FURROW_ENOENT)
			return ret;
	}
	return 0;
}

int backup_prune(struct backup_store *bs, const char *app,
		 const struct backup_keep *keep, long long now,
		 struct backup_prune_result *r)
{
	struct backup_record *v;
	struct drop_arg da = { NULL, 0 };
	uint64_t *ids;
	size_t n, i;
	int *k, ret;

	memset(r, 0, sizeof(*r));
	if ((ret = records_load(bs, app, &v, &n)))
		return ret;
	k = calloc(n ? n : 1, sizeof(*k));
	ids = calloc(n ? n : 1, sizeof(*ids));
	choose(v, n, keep, now, k);
	for (i = 0; i < n; i++)
		if (!k[i])
			ids[da.n++] = v[i].info.id;
	da.ids = ids;
	if (da.n && !(ret = store_update(bs->st, drop_fn, &da)))
		r->snapshots_removed = da.n;
	if (!ret) {
		struct backup_prune_result g;

		ret = backup_gc(bs, &g);
		r->chunks_removed = g.chunks_removed;
		r->bytes_freed = g.bytes_freed;
	}
	free(k);
	free(ids);
	records_free(v, n);
	return ret;
}

int backup_forget(struct backup_store *bs, const char *app, uint64_t id)
{
	struct backup_record rec;
	struct drop_arg da = { &id, 1 };
	struct backup_prune_result g;
	int ret;

	if ((ret = record_load(bs, id, &rec)))
		return ret;
	if (strcmp(rec.info.app, app))
		ret = error_set(FURROW_ENOENT, "snapshot %llu is of app %s, not "
				"%s", (unsigned long long)id, rec.info.app, app);
	record_release(&rec);
	if (!ret)
		ret = store_update(bs->st, drop_fn, &da);
	if (!ret)
		ret = backup_gc(bs, &g);
	return ret;
}

/* ---- garbage collection ---- */

struct sweep_arg {
	struct store *st;
	size_t seen;
	const struct refs *rs;
	unsigned char *garbage;     /* ids, BT_ID_BYTES each */
	size_t n, alloc;
	uint64_t bytes;
};

static int find_garbage(const void *key, size_t klen, const void *val,
			size_t vlen, void *arg)
{
	struct sweep_arg *a = arg;

	(void)val;
	/* Walking the table maps every chunk's first page (and the kernel
	 * the pages around it): keep the resident set flat. */
	if (++a->seen % BACKUP_TRIM_EVERY == 0)
		store_trim_resident(a->st);
	if (klen != BT_ID_BYTES || refs_find(a->rs, key))
		return 0;
	if (a->n == a->alloc) {
		a->alloc = a->alloc ? 2 * a->alloc : 256;
		a->garbage = realloc(a->garbage, a->alloc * BT_ID_BYTES);
	}
	memcpy(a->garbage + a->n * BT_ID_BYTES, key, BT_ID_BYTES);
	a->n++;
	a->bytes += vlen;
	return 0;
}

static int garbage_fn(struct store_txn *t, void *arg)
{
	return store_foreach(t, "chunks", NULL, 0, find_garbage, arg);
}

struct batch_arg {
	const unsigned char *ids;
	size_t n;
};

static int sweep_fn(struct store_txn *t, void *arg)
{
	struct batch_arg *a = arg;

	return chunks_delete(t, a->ids, a->n);
}

int backup_gc(struct backup_store *bs, struct backup_prune_result *r)
{
	struct backup_record *v;
	struct refs rs = { NULL, 0, 0 };
	struct chunk_source src;
	struct sweep_arg sa;
	size_t n, i;
	int ret;

	memset(r, 0, sizeof(*r));
	memset(&sa, 0, sizeof(sa));
	backup_local_source(&src, bs);
	/* Mark.  Any record or manifest that cannot be read stops the
	 * collection: its chunks cannot be told from garbage. */
	if ((ret = records_load(bs, NULL, &v, &n)))
		return error_prefix(ret, "garbage collection refused");
	for (i = 0; i < n && !ret; i++)
		ret = refs_of_snapshot(&src, &v[i], &rs);
	records_free(v, n);
	if (ret) {
		refs_free(&rs);
		return error_prefix(ret, "garbage collection refused");
	}
	refs_unique(&rs);
	/* Sweep. */
	sa.rs = &rs;
	sa.st = bs->st;
	if ((ret = store_view(bs->st, garbage_fn, &sa)))
		goto out;
	for (i = 0; i < sa.n && !ret; i += SWEEP_BATCH) {
		struct batch_arg ba = { sa.garbage + i * BT_ID_BYTES,
					sa.n - i < SWEEP_BATCH ? sa.n - i :
					SWEEP_BATCH };

		ret = store_update(bs->st, sweep_fn, &ba);
		if (!ret)
			r->chunks_removed += ba.n;
	}
	if (!ret)
		r->bytes_freed = sa.bytes;
out:
	free(sa.garbage);
	refs_free(&rs);
	return ret;
}
