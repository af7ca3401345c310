/*
 * backup_offsite.c - the offsite copy: upload the queue (chunks first,
 * then snapshot records, so the target never holds a snapshot whose
 * chunks are missing), and read it back for restores and verification
 * on a host that has only the key and the URL.
 *
 * Layout under backup.offsite.url:
 *   key                   "furrow-backup-key-check <hex>": which key
 *   chunks/<2 hex>/<64 hex>  a sealed chunk, as stored locally
 *   snapshots/<10 digits>  a sealed record; numbered 1, 2, 3, ... with
 *                          no gaps (append-only: never deleted, never
 *                          overwritten by another snapshot), so a reader
 *                          finds them all with GETs alone
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup_int.h"
#include "config.h"
#include "error.h"
#include "limits.h"
#include "log.h"
#include "offsite.h"
#include "store.h"
#include "strbuf.h"
#include "banned.h"

#define OFFSITE_TIMEOUT_MS 60000u
/* Objects sent between two commits of the queue: a crash re-sends at
 * most this many (harmless: same names, same bytes). */
#define QUEUE_COMMIT_EVERY 64

static int offsite_of(struct offsite *o, const struct config *cfg)
{
	if (!cfg->backup.offsite_url)
		return error_set(FURROW_EINVAL, "no offsite target: set "
				 "backup.offsite.url in the agent config");
	o->url = cfg->backup.offsite_url;
	o->token_file = cfg->backup.offsite_token_file;
	o->ca_file = cfg->backup.offsite_ca_file;
	o->timeout_ms = OFFSITE_TIMEOUT_MS;
	return 0;
}

static void chunk_name(char out[128], const unsigned char *id)
{
	char hex[2 * BT_ID_BYTES + 1];

	id_hex(id, hex);
	snprintf(out, 128, "chunks/%.2s/%s", hex, hex);
}

static void snap_name(char out[64], uint64_t n)
{
	snprintf(out, 64, "snapshots/%010llu", (unsigned long long)n);
}

/* The target's key check: written once, then must match. */
static int check_key(const struct offsite *o, const struct backup_key *k,
		     int may_write)
{
	struct strbuf want = STRBUF_INIT, got = STRBUF_INIT;
	char hex[65];
	int ret;

	backup_hex(k->check, sizeof(k->check), hex);
	strbuf_addf(&want, "furrow-backup-key-check %s\n", hex);
	ret = offsite_get(o, "key", &got, 4096);
	if (ret == FURROW_ENOENT && may_write) {
		error_clear();
		ret = offsite_put(o, "key", want.buf, want.len);
	} else if (ret == FURROW_ENOENT) {
		ret = error_set(FURROW_ENOENT, "offsite target %s holds no "
				"furrow backups (no key object)", o->url);
	} else if (!ret && (got.len != want.len ||
			    memcmp(got.buf, want.buf, want.len))) {
		ret = error_set(FURROW_EVERIFY, "offsite target %s holds "
				"backups made with another backup key; refusing "
				"to use it", o->url);
	}
	strbuf_release(&want);
	strbuf_release(&got);
	return ret;
}

/* ---- upload ---- */

struct queue {
	unsigned char (*keys)[1 + BT_ID_BYTES];
	size_t n, alloc;
};

static int queue_one(const void *key, size_t klen, const void *val,
		     size_t vlen, void *arg)
{
	struct queue *q = arg;

	(void)val;
	(void)vlen;
	if (klen < 2 || klen > 1 + BT_ID_BYTES)
		return 0;
	if (q->n == q->alloc) {
		q->alloc = q->alloc ? 2 * q->alloc : 256;
		q->keys = realloc(q->keys, q->alloc * sizeof(*q->keys));
	}
	memset(q->keys[q->n], 0, sizeof(q->keys[0]));
	memcpy(q->keys[q->n], key, klen);
	q->n++;
	return 0;
}

static int queue_fn(struct store_txn *t, void *arg)
{
	return store_foreach(t, "offsite", NULL, 0, queue_one, arg);
}

struct done_arg {
	struct queue *q;
	size_t from, to;           /* keys [from, to) were sent */
	uint64_t offsite_next;     /* 0: unchanged */
};

static size_t key_len(const unsigned char *k)
{
	return k[0] == 'c' ? 1 + BT_ID_BYTES : 11;
}

static int done_fn(struct store_txn *t, void *arg)
{
	struct done_arg *a = arg;
	size_t i;
	int ret;

	for (i = a->from; i < a->to; i++) {
		ret = store_del(t, "offsite", a->q->keys[i],
				key_len(a->q->keys[i]));
		if (ret && ret != FURROW_ENOENT)
			return ret;
	}
	if (a->offsite_next) {
		char num[24];
		int len = snprintf(num, sizeof(num), "%llu",
				   (unsigned long long)a->offsite_next);

		return store_put(t, "meta", "offsite_next", 12, num,
				 (size_t)len);
	}
	return 0;
}

struct meta_arg {
	const char *name;
	uint64_t v;
};

static int meta_fn(struct store_txn *t, void *arg)
{
	struct meta_arg *a = arg;
	const void *v;
	size_t n;
	char buf[24];
	int ret = store_get(t, "meta", a->name, strlen(a->name), &v, &n);

	a->v = 1;
	if (ret == FURROW_ENOENT)
		return 0;
	if (ret || n == 0 || n >= sizeof(buf))
		return ret ? ret : error_set(FURROW_ESYNTAX, "bad %s", a->name);
	memcpy(buf, v, n);
	buf[n] = '\0';
	a->v = strtoull(buf, NULL, 10);
	return 0;
}

static int get_snapshot_blob(struct backup_store *bs, const unsigned char *k,
			     struct strbuf *blob);

/* Send the sealed chunk id unless the target holds it already.  A chunk
 * collected here and stored again (its snapshots forgotten, then the same
 * bytes snapshotted anew) is sealed under a new random nonce: other bytes
 * under the same name, which must not replace the object older snapshots
 * offsite were verified against (the target is append-only).  So a name
 * the target answers is fetched and kept if it opens as this chunk; only
 * a damaged object (one that does not open, or is too large) is
 * replaced.  A name not there costs one short 404.  *sent says whether a
 * PUT was made. */
static int put_chunk(const struct offsite *o, const struct backup_key *k,
		     const unsigned char *id, const char *name,
		     const struct strbuf *blob, int *sent)
{
	struct strbuf got = STRBUF_INIT, plain = STRBUF_INIT;
	int ret = offsite_get(o, name, &got, LIMIT_BACKUP_BLOB_BYTES);

	*sent = 0;
	if (!ret && !chunk_unseal(k, id, got.buf, got.len, &plain))
		goto out; /* there, whole */
	if (!ret || ret == FURROW_ENOENT || ret == FURROW_ELIMIT) {
		error_clear();
		ret = offsite_put(o, name, blob->buf, blob->len);
		*sent = 1;
	}
out:
	strbuf_release(&got);
	strbuf_release(&plain);
	return ret;
}

/* Send one snapshot record to the first free number at or after *next
 * (a number holding this very record, sent before a crash, is reused). */
static int put_snapshot(const struct offsite *o, const struct strbuf *blob,
			uint64_t *next)
{
	struct strbuf got = STRBUF_INIT;
	char name[64];
	int ret;

	for (;;) {
		snap_name(name, *next);
		ret = offsite_get(o, name, &got, LIMIT_BACKUP_RECORD_BYTES + 4096);
		if (ret == FURROW_ENOENT) {
			error_clear();
			ret = offsite_put(o, name, blob->buf, blob->len);
			break;
		}
		if (ret)
			break;
		if (got.len == blob->len && !memcmp(got.buf, blob->buf, got.len))
			break; /* already there */
		(*next)++;
	}
	strbuf_release(&got);
	return ret;
}

int backup_upload(struct backup_store *bs, const struct config *cfg,
		  struct backup_upload_result *r)
{
	struct offsite o;
	struct queue q = { NULL, 0, 0 };
	struct meta_arg ma = { "offsite_next", 1 };
	struct strbuf blob = STRBUF_INIT;
	struct done_arg da;
	char name[128];
	size_t i, handled = 0;
	int ret, sent;

	memset(r, 0, sizeof(*r));
	memset(&da, 0, sizeof(da));
	if ((ret = offsite_of(&o, cfg)) || (ret = check_key(&o, &bs->key, 1)) ||
	    (ret = store_view(bs->st, queue_fn, &q)) ||
	    (ret = store_view(bs->st, meta_fn, &ma)))
		goto out;
	da.q = &q;
	/* Keys sort "c..." before "s...": chunks go first. */
	for (i = 0; i < q.n && !ret; i++) {
		const unsigned char *k = q.keys[i];
		sent = 0;
		if (k[0] == 'c') {
			struct chunk_source src;

			backup_local_source(&src, bs);
			ret = src.get(src.arg, k + 1, &blob);
			if (ret == FURROW_ENOENT) {
				error_clear(); /* collected meanwhile */
				ret = 0;
				handled++;
				continue;
			}
			chunk_name(name, k + 1);
			if (!ret)
				ret = put_chunk(&o, &bs->key, k + 1, name,
						&blob, &sent);
		} else {
			ret = get_snapshot_blob(bs, k, &blob);
			if (ret == FURROW_ENOENT) {
				error_clear(); /* pruned meanwhile */
				ret = 0;
				handled++;
				continue;
			}
			sent = 1;
			if (!ret)
				ret = put_snapshot(&o, &blob, &ma.v);
			if (!ret)
				da.offsite_next = ++ma.v;
		}
		if (ret)
			break;
		handled++;
		if (sent) {
			r->objects++;
			r->bytes += blob.len;
		}
		if (i + 1 - da.from >= QUEUE_COMMIT_EVERY || k[0] == 's') {
			da.to = i + 1;
			if ((ret = store_update(bs->st, done_fn, &da)))
				break;
			da.from = da.to;
			da.offsite_next = 0;
		}
	}
	if (da.from < i && i <= q.n) {
		int r2;

		da.to = i;
		r2 = store_update(bs->st, done_fn, &da);
		if (!ret)
			ret = r2;
	}
	/* What was sent, found there already, or collected meanwhile has
	 * left the queue; the rest is pending. */
	r->pending = q.n - handled;
out:
	if (ret)
		ret = error_prefix(ret, "offsite copy");
	free(q.keys);
	strbuf_release(&blob);
	return ret;
}

struct snapblob_arg {
	const unsigned char *k;
	struct strbuf *blob;
};

static int snapblob_fn(struct store_txn *t, void *arg)
{
	struct snapblob_arg *a = arg;
	const void *v;
	size_t n;
	int ret = store_get(t, "snapshots", a->k + 1, 10, &v, &n);

	if (!ret) {
		strbuf_reset(a->blob);
		strbuf_add(a->blob, v, n);
	}
	return ret;
}

static int get_snapshot_blob(struct backup_store *bs, const unsigned char *k,
			     struct strbuf *blob)
{
	struct snapblob_arg a = { k, blob };

	return store_view(bs->st, snapblob_fn, &a);
}

/* ---- reading the offsite copy ---- */

struct remote {
	struct offsite o;
	struct backup_key key;
};

static int remote_get(void *arg, const unsigned char id[BT_ID_BYTES],
		      struct strbuf *blob)
{
	struct remote *rm = arg;
	char name[128];

	chunk_name(name, id);
	return offsite_get(&rm->o, name, blob, LIMIT_BACKUP_BLOB_BYTES);
}

static int remote_open(struct remote *rm, struct chunk_source *src,
		       const struct config *cfg)
{
	int ret;

	memset(rm, 0, sizeof(*rm));
	if (!cfg->backup.key_file)
		return error_set(FURROW_EINVAL, "backups need a key: set "
				 "backup.key_file in the agent config");
	if ((ret = offsite_of(&rm->o, cfg)) ||
	    (ret = backup_key_load(&rm->key, cfg->backup.key_file)) ||
	    (ret = check_key(&rm->o, &rm->key, 0)))
		return ret;
	src->get = remote_get;
	src->arg = rm;
	src->key = &rm->key;
	return 0;
}

static int remote_exists(struct remote *rm, uint64_t n, struct strbuf *blob)
{
	char name[64];

	snap_name(name, n);
	return offsite_get(&rm->o, name, blob, LIMIT_BACKUP_RECORD_BYTES + 4096);
}

/* How many snapshots the target holds: they are numbered 1..count with
 * no gaps, so an exponential probe and a binary search find the count
 * in O(log count) requests. */
static int remote_count(struct remote *rm, uint64_t *count)
{
	struct strbuf b = STRBUF_INIT;
	uint64_t lo = 0, hi = 1, mid;
	int ret;

	for (;;) {
		ret = remote_exists(rm, hi, &b);
		if (ret == FURROW_ENOENT)
			break;
		if (ret)
			goto out;
		lo = hi;
		hi *= 2;
	}
	/* lo exists (or is 0), hi does not. */
	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		ret = remote_exists(rm, mid, &b);
		if (ret && ret != FURROW_ENOENT)
			goto out;
		if (ret)
			hi = mid;
		else
			lo = mid;
	}
	error_clear();
	ret = 0;
	*count = lo;
out:
	strbuf_release(&b);
	return ret;
}

/* A record that does not open, left out of a listing: logged (with why)
 * and the error cleared. */
static void skip_record(uint64_t n)
{
	char num[24], msg[FURROW_ERROR_MAX];

	snprintf(num, sizeof(num), "%llu", (unsigned long long)n);
	snprintf(msg, sizeof(msg), "offsite snapshot %s left out: %s", num,
		 error_message());
	log_event(LOG_WARN, "backup.offsite_record_unreadable", msg,
		  "snapshot", num, NULL);
	error_clear();
}

int backup_list_offsite(const struct config *cfg, const char *app,
			struct backup_info **out, size_t *n)
{
	struct remote rm;
	struct chunk_source src;
	struct strbuf b = STRBUF_INIT;
	uint64_t count = 0, i;
	int ret;

	*out = NULL;
	*n = 0;
	if ((ret = remote_open(&rm, &src, cfg)) ||
	    (ret = remote_count(&rm, &count)))
		goto out;
	*out = calloc(count ? count : 1, sizeof(**out));
	for (i = 1; i <= count && !ret; i++) {
		struct backup_record rec;

		if ((ret = remote_exists(&rm, i, &b))) {
			ret = error_prefix(ret, "offsite snapshot %llu",
					   (unsigned long long)i);
			break;
		}
		/* A damaged record hides the others from no one: it is
		 * named, and the listing goes on (verify --offsite counts
		 * it as a problem). */
		if (record_unseal(&rm.key, b.buf, b.len, &rec)) {
			skip_record(i);
			continue;
		}
		if (!app || !strcmp(app, rec.info.app))
			(*out)[(*n)++] = rec.info;
		record_release(&rec);
	}
out:
	if (ret) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	backup_key_wipe(&rm.key);
	strbuf_release(&b);
	return ret;
}

int backup_restore_offsite(const struct config *cfg, const char *app,
			   const char *which, const char *to_dir,
			   struct backup_restore_stats *stats,
			   struct backup_info *info)
{
	struct remote rm;
	struct chunk_source src;
	struct strbuf b = STRBUF_INIT;
	struct backup_record rec;
	uint64_t count = 0, i, want = 0, bad = 0;
	int latest = !strcmp(which, "latest"), found = 0, bad_ret = 0, ret;
	char why[FURROW_ERROR_MAX];

	memset(stats, 0, sizeof(*stats));
	memset(&rec, 0, sizeof(rec));
	if (!latest) {
		char *end;

		want = strtoull(which, &end, 10);
		if (!*which || *end || !want)
			return error_set(FURROW_EINVAL, "snapshot \"%s\": give a "
					 "snapshot id or \"latest\"", which);
	}
	if ((ret = remote_open(&rm, &src, cfg)) ||
	    (ret = remote_count(&rm, &count)))
		goto out;
	/* Newest first.  A record that does not open stops "latest" (it
	 * may be the newest of app: an older one is not what was asked
	 * for); a given id is looked for past it. */
	for (i = count; i >= 1 && !found; i--) {
		if ((ret = remote_exists(&rm, i, &b))) {
			ret = error_prefix(ret, "offsite snapshot %llu",
					   (unsigned long long)i);
			goto out;
		}
		if ((ret = record_unseal(&rm.key, b.buf, b.len, &rec))) {
			ret = error_prefix(ret, "offsite snapshot %llu",
					   (unsigned long long)i);
			if (latest) {
				ret = error_prefix(ret, "cannot tell the latest "
						   "snapshot (restore one by "
						   "its id from backup list "
						   "--offsite)");
				goto out;
			}
			if (!bad) {
				bad = i;
				bad_ret = ret;
				snprintf(why, sizeof(why), "%s", error_message());
			}
			error_clear();
			ret = 0;
			continue;
		}
		if (!strcmp(rec.info.app, app) &&
		    (latest || rec.info.id == want))
			found = 1;
		else
			record_release(&rec);
	}
	if (!found && bad) {
		ret = error_set(bad_ret, "offsite target %s has no readable "
				"snapshot %s of app %s: %s", rm.o.url, which,
				app, why);
		goto out;
	}
	if (!found) {
		ret = error_set(FURROW_ENOENT, "offsite target %s has no "
				"snapshot %s of app %s", rm.o.url, which, app);
		goto out;
	}
	if (info)
		*info = rec.info;
	ret = restore_to_new_dir(&src, &rec, to_dir, stats);
out:
	record_release(&rec);
	backup_key_wipe(&rm.key);
	strbuf_release(&b);
	return ret;
}

static void say(backup_problem_fn fn, void *arg, struct backup_verify_result *r,
		const char *line)
{
	r->problems++;
	if (fn)
		fn(arg, line);
}

int backup_verify_offsite(const struct config *cfg, unsigned read_percent,
			  backup_problem_fn fn, void *arg,
			  struct backup_verify_result *r)
{
	struct remote rm;
	struct chunk_source src;
	struct strbuf b = STRBUF_INIT, plain = STRBUF_INIT;
	struct refs rs = { NULL, 0, 0 };
	char line[2048], hex[2 * BT_ID_BYTES + 1];
	uint64_t count = 0, i;
	size_t j;
	int ret;

	memset(r, 0, sizeof(*r));
	if ((ret = remote_open(&rm, &src, cfg)) ||
	    (ret = remote_count(&rm, &count)))
		goto out;
	for (i = 1; i <= count; i++) {
		struct backup_record rec;

		r->snapshots++;
		if ((ret = remote_exists(&rm, i, &b)))
			goto out;
		if (record_unseal(&rm.key, b.buf, b.len, &rec)) {
			snprintf(line, sizeof(line), "offsite snapshots/%010llu: "
				 "record cannot be read: %s",
				 (unsigned long long)i, error_message());
			say(fn, arg, r, line);
			error_clear();
			continue;
		}
		if (refs_of_snapshot(&src, &rec, &rs)) {
			snprintf(line, sizeof(line), "offsite snapshot %llu of "
				 "%s: %s", (unsigned long long)rec.info.id,
				 rec.info.app, error_message());
			say(fn, arg, r, line);
			error_clear();
		}
		record_release(&rec);
	}
	refs_unique(&rs);
	/* Plain GET and PUT give no listing or HEAD we can rely on: each
	 * sampled chunk is fetched and opened; the others only counted. */
	for (j = 0; j < rs.n; j++) {
		const unsigned char *id = rs.v[j].id;

		r->chunks_total++;
		if (!read_percent ||
		    ((unsigned)id[0] << 8 | id[1]) % 10000 >= read_percent * 100)
			continue;
		r->chunks_checked++;
		if (!chunk_read(&src, id, &b, &plain))
			continue;
		id_hex(id, hex);
		snprintf(line, sizeof(line), "offsite snapshot %llu: %s: chunk "
			 "%s: %s", (unsigned long long)rs.v[j].snap,
			 rs.v[j].path, hex, error_message());
		say(fn, arg, r, line);
		error_clear();
	}
out:
	refs_free(&rs);
	backup_key_wipe(&rm.key);
	strbuf_release(&b);
	strbuf_release(&plain);
	return ret;
}
