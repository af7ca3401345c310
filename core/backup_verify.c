/*
 * backup_verify.c - check the backup store: every snapshot record opens,
 * every tree decodes, every chunk a snapshot names is stored, and (with
 * read_percent) that chunks open, decompress and match their ids.  Each
 * problem is reported as one line naming the snapshot, file and chunk.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup_int.h"
#include "error.h"
#include "store.h"
#include "strbuf.h"
#include "banned.h"

void refs_add(struct refs *rs, const unsigned char *id, uint64_t snap,
		     const char *path, size_t plen)
{
	if (rs->n == rs->alloc) {
		rs->alloc = rs->alloc ? 2 * rs->alloc : 1024;
		rs->v = realloc(rs->v, rs->alloc * sizeof(*rs->v));
	}
	memcpy(rs->v[rs->n].id, id, BT_ID_BYTES);
	rs->v[rs->n].snap = snap;
	rs->v[rs->n].path = path ? strndup(path, plen) : NULL;
	rs->n++;
}

static int ref_cmp(const void *a, const void *b)
{
	const struct ref *x = a, *y = b;
	int c = memcmp(x->id, y->id, BT_ID_BYTES);

	if (c)
		return c;
	return x->snap < y->snap ? -1 : x->snap > y->snap;
}

/* Sort and keep one entry per id (the oldest snapshot's). */
void refs_unique(struct refs *rs)
{
	size_t i, j = 0;

	qsort(rs->v, rs->n, sizeof(*rs->v), ref_cmp);
	for (i = 0; i < rs->n; i++) {
		if (j && !memcmp(rs->v[j - 1].id, rs->v[i].id, BT_ID_BYTES)) {
			free(rs->v[i].path);
			continue;
		}
		rs->v[j++] = rs->v[i];
	}
	rs->n = j;
}

const struct ref *refs_find(const struct refs *rs,
				   const unsigned char *id)
{
	size_t lo = 0, hi = rs->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(rs->v[mid].id, id, BT_ID_BYTES);

		if (!c)
			return &rs->v[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

void refs_free(struct refs *rs)
{
	size_t i;

	for (i = 0; i < rs->n; i++)
		free(rs->v[i].path);
	free(rs->v);
	memset(rs, 0, sizeof(*rs));
}

/* Collect the references of one snapshot (tree chunks and file data);
 * 0, or an error that is this snapshot's problem. */
int refs_of_snapshot(const struct chunk_source *src,
		     const struct backup_record *r, struct refs *rs)
{
	struct strbuf tree = STRBUF_INIT;
	struct bt_reader rd;
	struct bt_entry e;
	struct bt_extent_reader xr;
	struct bt_extent x;
	size_t i;
	int ret;

	for (i = 0; i < r->ntree; i++)
		refs_add(rs, r->tree[i].id, r->info.id, "(manifest)", 10);
	if ((ret = tree_load(src, r, &tree)) ||
	    (ret = bt_reader_init(&rd, tree.buf, tree.len)))
		goto out;
	while ((ret = bt_next(&rd, &e)) == 1) {
		if (e.type != BT_FILE)
			continue;
		bt_extents(&xr, &e);
		while (bt_extent_next(&xr, &x))
			if (!x.hole)
				refs_add(rs, x.id, r->info.id, e.path,
					 e.path_len);
	}
out:
	strbuf_release(&tree);
	return ret < 0 ? ret : 0;
}

struct raw {
	char key[11];
	struct strbuf blob;
};

struct raws {
	struct raw *v;
	size_t n, alloc;
};

static int raw_one(const void *key, size_t klen, const void *val, size_t vlen,
		   void *arg)
{
	struct raws *a = arg;

	if (a->n == a->alloc) {
		a->alloc = a->alloc ? 2 * a->alloc : 64;
		a->v = realloc(a->v, a->alloc * sizeof(*a->v));
	}
	snprintf(a->v[a->n].key, sizeof(a->v[a->n].key), "%.*s",
		 (int)(klen < 10 ? klen : 10), (const char *)key);
	strbuf_init(&a->v[a->n].blob, vlen);
	strbuf_add(&a->v[a->n].blob, val, vlen);
	a->n++;
	return 0;
}

static int raw_fn(struct store_txn *t, void *arg)
{
	return store_foreach(t, "snapshots", NULL, 0, raw_one, arg);
}

static void say(backup_problem_fn fn, void *arg, struct backup_verify_result *r,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void say(backup_problem_fn fn, void *arg, struct backup_verify_result *r,
		const char *fmt, ...)
{
	char line[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	r->problems++;
	if (fn)
		fn(arg, line);
}

struct chunk_walk {
	struct backup_store *bs;
	unsigned percent;
	struct refs *rs;
	backup_problem_fn fn;
	void *arg;
	struct backup_verify_result *r;
	struct strbuf plain;
	uint64_t *bad_snaps;
	size_t nbad, badalloc;
	unsigned char (*corrupt)[BT_ID_BYTES]; /* chunks that failed */
	size_t ncorrupt;
};

static void mark_bad(struct chunk_walk *w, uint64_t snap)
{
	if (w->nbad == w->badalloc) {
		w->badalloc = w->badalloc ? 2 * w->badalloc : 16;
		w->bad_snaps = realloc(w->bad_snaps,
				       w->badalloc * sizeof(*w->bad_snaps));
	}
	w->bad_snaps[w->nbad++] = snap;
}

/* A deterministic sample: the first id byte pair spread over 0..9999. */
static int sampled(const unsigned char *id, unsigned percent)
{
	return percent >= 100 ||
	       ((unsigned)id[0] << 8 | id[1]) % 10000 < percent * 100;
}

static int chunk_one(const void *key, size_t klen, const void *val,
		     size_t vlen, void *arg)
{
	struct chunk_walk *w = arg;
	const struct ref *ref;
	char hex[2 * BT_ID_BYTES + 1];

	w->r->chunks_total++;
	if (w->r->chunks_total % BACKUP_TRIM_EVERY == 0)
		store_trim_resident(w->bs->st);
	if (klen != BT_ID_BYTES) {
		say(w->fn, w->arg, w->r, "chunks table: a key of %zu bytes",
		    klen);
		return 0;
	}
	if (!w->percent || !sampled(key, w->percent))
		return 0;
	w->r->chunks_checked++;
	if (!chunk_unseal(&w->bs->key, key, val, vlen, &w->plain))
		return 0;
	id_hex(key, hex);
	w->corrupt = realloc(w->corrupt, (w->ncorrupt + 1) * sizeof(*w->corrupt));
	memcpy(w->corrupt[w->ncorrupt++], key, BT_ID_BYTES);
	ref = refs_find(w->rs, key);
	if (ref) {
		say(w->fn, w->arg, w->r, "snapshot %llu: %s: chunk %s is "
		    "corrupt: %s", (unsigned long long)ref->snap, ref->path,
		    hex, error_message());
		mark_bad(w, ref->snap);
	} else {
		say(w->fn, w->arg, w->r, "unreferenced chunk %s is corrupt: "
		    "%s", hex, error_message());
	}
	error_clear();
	return 0;
}

static int drop_corrupt_fn(struct store_txn *t, void *arg)
{
	struct chunk_walk *w = arg;

	return chunks_delete(t, w->corrupt[0], w->ncorrupt);
}

static int chunk_fn(struct store_txn *t, void *arg)
{
	return store_foreach(t, "chunks", NULL, 0, chunk_one, arg);
}

struct exist_arg {
	struct store *st;
	const struct refs *rs;
	size_t missing_first;
	unsigned char *missing; /* flags per ref */
};

static int exist_fn(struct store_txn *t, void *arg)
{
	struct exist_arg *a = arg;
	const void *v;
	size_t i, n;
	int ret;

	for (i = 0; i < a->rs->n; i++) {
		if (i % BACKUP_TRIM_EVERY == 0)
			store_trim_resident(a->st);
		ret = store_get(t, "chunks", a->rs->v[i].id, BT_ID_BYTES, &v, &n);
		if (ret && ret != FURROW_ENOENT)
			return ret;
		a->missing[i] = ret == FURROW_ENOENT;
	}
	return 0;
}

int backup_verify(struct backup_store *bs, unsigned read_percent,
		  backup_problem_fn fn, void *arg,
		  struct backup_verify_result *r)
{
	struct raws raws = { NULL, 0, 0 };
	struct refs rs = { NULL, 0, 0 };
	struct backup_record *recs;
	struct chunk_source src;
	struct chunk_walk w;
	struct exist_arg ea;
	char hex[2 * BT_ID_BYTES + 1];
	size_t i, j, nrec = 0;
	int ret, *ok;

	memset(r, 0, sizeof(*r));
	memset(&w, 0, sizeof(w));
	backup_local_source(&src, bs);
	if ((ret = store_view(bs->st, raw_fn, &raws)))
		return ret;
	recs = calloc(raws.n ? raws.n : 1, sizeof(*recs));
	ok = calloc(raws.n ? raws.n : 1, sizeof(*ok));
	for (i = 0; i < raws.n; i++) {
		struct backup_record *rec = &recs[nrec];

		r->snapshots++;
		if (record_unseal(&bs->key, raws.v[i].blob.buf,
				  raws.v[i].blob.len, rec)) {
			say(fn, arg, r, "snapshot %s: record cannot be read: %s",
			    raws.v[i].key, error_message());
			error_clear();
			continue;
		}
		ok[nrec] = 1;
		if (refs_of_snapshot(&src, rec, &rs)) {
			say(fn, arg, r, "snapshot %llu of %s: %s",
			    (unsigned long long)rec->info.id, rec->info.app,
			    error_message());
			error_clear();
			ok[nrec] = 0;
		}
		nrec++;
	}
	refs_unique(&rs);
	ea.st = bs->st;
	ea.rs = &rs;
	ea.missing = calloc(rs.n ? rs.n : 1, 1);
	if ((ret = store_view(bs->st, exist_fn, &ea)))
		goto out;
	for (i = 0; i < rs.n; i++) {
		if (!ea.missing[i])
			continue;
		id_hex(rs.v[i].id, hex);
		say(fn, arg, r, "snapshot %llu: %s: chunk %s is missing",
		    (unsigned long long)rs.v[i].snap, rs.v[i].path, hex);
		for (j = 0; j < nrec; j++)
			if (recs[j].info.id == rs.v[i].snap)
				ok[j] = 0;
	}
	w.bs = bs;
	w.percent = read_percent;
	w.rs = &rs;
	w.fn = fn;
	w.arg = arg;
	w.r = r;
	if ((ret = store_view(bs->st, chunk_fn, &w)))
		goto out;
	for (i = 0; i < w.nbad; i++)
		for (j = 0; j < nrec; j++)
			if (recs[j].info.id == w.bad_snaps[i])
				ok[j] = 0;
	/* A corrupt chunk is dropped: the next snapshot of a file that
	 * still holds those bytes stores them afresh instead of reusing the
	 * broken copy (the unchanged-file cache checks that chunks exist). */
	if (bs->writable && w.ncorrupt &&
	    !store_update(bs->st, drop_corrupt_fn, &w))
		r->removed = w.ncorrupt;
	error_clear();
	/* RPO: each app's newest snapshot found whole is its newest
	 * verified one - lowered, too, when a newer one turned out bad. */
	if (bs->writable) {
		for (j = 0; j < nrec; j++) {
			struct backup_status st;
			long long best = 0;
			size_t k;

			if (status_load(bs->st, recs[j].info.app, &st))
				continue;
			for (k = 0; k < nrec; k++)
				if (ok[k] && !strcmp(recs[k].info.app,
						     recs[j].info.app) &&
				    recs[k].info.time > best)
					best = recs[k].info.time;
			if (st.verified_time != best) {
				st.verified_time = best;
				(void)status_save(bs->st, recs[j].info.app, &st);
			}
		}
		error_clear();
	}
out:
	for (i = 0; i < raws.n; i++)
		strbuf_release(&raws.v[i].blob);
	free(raws.v);
	records_free(recs, nrec);
	free(ok);
	free(ea.missing);
	free(w.bad_snaps);
	free(w.corrupt);
	strbuf_release(&w.plain);
	refs_free(&rs);
	return ret;
}
