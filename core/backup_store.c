/*
 * backup_store.c - opening the backup store, sealed chunks, snapshot
 * records and their codec (backup_int.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backup_int.h"
#include "bug.h"
#include "compress.h"
#include "config.h"
#include "error.h"
#include "limits.h"
#include "store.h"
#include "strbuf.h"
#include "banned.h"

#define RECORD_MAGIC "furrow-snapshot-1\n"
#define CHUNK_STORED 0
#define CHUNK_ZSTD 1
/* zstd level for chunks: fast; backups are bound by reading and hashing. */
#define CHUNK_ZSTD_LEVEL 1

static const char key_check_name[] = "key_check";

void id_hex(const unsigned char id[BT_ID_BYTES], char out[2 * BT_ID_BYTES + 1])
{
	backup_hex(id, BT_ID_BYTES, out);
}

void snapshot_key(uint64_t id, char out[11])
{
	snprintf(out, 11, "%010llu", (unsigned long long)id);
}

/* ---- open ---- */

struct check_arg {
	char hex[2 * 32 + 1];
	int mismatch;
	int writable;
};

static int key_check_fn(struct store_txn *t, void *arg)
{
	struct check_arg *a = arg;
	const void *v;
	size_t n;
	int ret = store_get(t, "meta", key_check_name, strlen(key_check_name),
			    &v, &n);

	if (ret == FURROW_ENOENT) {
		if (!a->writable)
			return 0;
		return store_put(t, "meta", key_check_name,
				 strlen(key_check_name), a->hex,
				 strlen(a->hex));
	}
	if (ret)
		return ret;
	a->mismatch = n != strlen(a->hex) || memcmp(v, a->hex, n);
	return 0;
}

int backup_open(struct backup_store **out, const struct config *cfg,
		int writable, unsigned wait_seconds)
{
	struct store_options o = { writable ? STORE_READ_WRITE : STORE_READ_ONLY,
				   BACKUP_MAP_INITIAL_BYTES,
				   (size_t)BACKUP_MAP_MAX_BYTES,
				   STORE_KIND_BACKUP };
	struct check_arg ca = { { 0 }, 0, writable };
	struct backup_store *bs;
	unsigned waited_ms = 0;
	int ret;

	*out = NULL;
	if (!cfg->backup.key_file)
		return error_set(FURROW_EINVAL, "backups need a key: set "
				 "backup.key_file in the agent config (create "
				 "one with `furrow backup key FILE`)");
	bs = calloc(1, sizeof(*bs));
	if (!bs)
		return error_set(FURROW_EIO, "out of memory");
	if ((ret = backup_key_load(&bs->key, cfg->backup.key_file)))
		goto fail;
	chunker_init(&bs->cdc, bs->key.gear_seed);
	bs->writable = writable;
	bs->state_dir = strdup(cfg->state_dir);
	for (;;) {
		ret = store_open(&bs->st, cfg->state_dir, &o);
		if (ret != FURROW_EBUSY || waited_ms >= wait_seconds * 1000u)
			break;
		usleep(200 * 1000);
		waited_ms += 200;
	}
	if (ret)
		goto fail;
	backup_hex(bs->key.check, sizeof(bs->key.check), ca.hex);
	if ((ret = writable ? store_update(bs->st, key_check_fn, &ca) :
			      store_view(bs->st, key_check_fn, &ca)))
		goto fail;
	if (ca.mismatch) {
		ret = error_set(FURROW_EVERIFY, "backup store %s/backup was "
				"written with another backup key than %s; "
				"refusing to use it", cfg->state_dir,
				cfg->backup.key_file);
		goto fail;
	}
	*out = bs;
	return 0;
fail:
	backup_close(bs);
	return ret;
}

void backup_close(struct backup_store *bs)
{
	if (!bs)
		return;
	store_free(bs->st);
	backup_key_wipe(&bs->key);
	free(bs->state_dir);
	free(bs);
}

/* ---- chunks ---- */

int chunk_seal(const struct backup_key *k, const unsigned char id[BT_ID_BYTES],
	       const void *data, size_t len, struct strbuf *blob,
	       struct strbuf *scratch)
{
	struct strbuf own = STRBUF_INIT, *plain = scratch ? scratch : &own;
	int ret;

	strbuf_reset(plain);
	strbuf_grow(plain, len + 64);
	strbuf_addch(plain, CHUNK_ZSTD);
	if (compress_zstd(plain, data, len, CHUNK_ZSTD_LEVEL) ||
	    plain->len >= len + 1) {
		/* Incompressible (or the compressor failed): store as is. */
		error_clear();
		strbuf_reset(plain);
		strbuf_addch(plain, CHUNK_STORED);
		strbuf_add(plain, data, len);
	}
	strbuf_reset(blob);
	ret = backup_seal(k, 'c', id, BT_ID_BYTES, plain->buf, plain->len,
			  blob);
	strbuf_release(&own);
	return ret;
}

/* A buffer per thread for chunk_unseal()'s decrypted, still compressed
 * bytes: restores open every chunk, and a fresh 256 KiB buffer each time
 * costs an mmap and an munmap with musl.  Freed when the thread ends. */
static pthread_key_t inner_key;
static pthread_once_t inner_once = PTHREAD_ONCE_INIT;

static void inner_free(void *arg)
{
	strbuf_release(arg);
	free(arg);
}

static void inner_make(void)
{
	if (pthread_key_create(&inner_key, inner_free))
		BUG("pthread_key_create");
}

static struct strbuf *inner_buffer(void)
{
	struct strbuf *sb;

	pthread_once(&inner_once, inner_make);
	if ((sb = pthread_getspecific(inner_key)))
		return sb;
	if (!(sb = calloc(1, sizeof(*sb))) || pthread_setspecific(inner_key, sb))
		BUG("out of memory");
	strbuf_init(sb, 0);
	return sb;
}

int chunk_unseal(const struct backup_key *k,
		 const unsigned char id[BT_ID_BYTES], const void *blob,
		 size_t len, struct strbuf *plain)
{
	struct strbuf *inner = inner_buffer();
	unsigned char got[BT_ID_BYTES];
	char hex[2 * BT_ID_BYTES + 1];
	int ret;

	id_hex(id, hex);
	strbuf_reset(plain);
	ret = backup_open_blob(k, 'c', id, BT_ID_BYTES, blob, len, inner);
	if (ret) {
		ret = error_prefix(ret, "chunk %s", hex);
		goto out;
	}
	if (inner->len < 1) {
		ret = error_set(FURROW_ESYNTAX, "chunk %s: empty", hex);
		goto out;
	}
	if (inner->buf[0] == CHUNK_ZSTD) {
		if ((ret = decompress_zstd(plain, inner->buf + 1, inner->len - 1,
					   LIMIT_BACKUP_CHUNK_BYTES))) {
			ret = error_prefix(ret, "chunk %s", hex);
			goto out;
		}
	} else if (inner->buf[0] == CHUNK_STORED &&
		   inner->len - 1 <= LIMIT_BACKUP_CHUNK_BYTES) {
		strbuf_add(plain, inner->buf + 1, inner->len - 1);
	} else {
		ret = error_set(FURROW_ESYNTAX, "chunk %s: unknown encoding",
				hex);
		goto out;
	}
	backup_chunk_id(k, plain->buf, plain->len, got);
	if (memcmp(got, id, BT_ID_BYTES))
		ret = error_set(FURROW_EVERIFY, "chunk %s: content does not "
				"match its id", hex);
out:
	strbuf_reset(inner);
	if (ret)
		strbuf_reset(plain);
	return ret;
}

int chunk_read(const struct chunk_source *src,
	       const unsigned char id[BT_ID_BYTES], struct strbuf *blob,
	       struct strbuf *plain)
{
	char hex[2 * BT_ID_BYTES + 1];
	int ret = src->get(src->arg, id, blob);

	if (ret == FURROW_ENOENT) {
		/* A chunk a snapshot names is gone: an integrity failure
		 * like a corrupt one (verify drops corrupt chunks). */
		id_hex(id, hex);
		return error_set(FURROW_EVERIFY, "chunk %s is missing", hex);
	}
	if (ret)
		return ret;
	return chunk_unseal(src->key, id, blob->buf, blob->len, plain);
}

struct get_arg {
	const unsigned char *id;
	struct strbuf *blob;
};

static int local_get_fn(struct store_txn *t, void *arg)
{
	struct get_arg *a = arg;
	const void *v;
	size_t n;
	int ret = store_get(t, "chunks", a->id, BT_ID_BYTES, &v, &n);

	if (!ret) {
		strbuf_reset(a->blob);
		strbuf_add(a->blob, v, n);
	}
	return ret;
}

static int local_get(void *arg, const unsigned char id[BT_ID_BYTES],
		     struct strbuf *blob)
{
	struct backup_store *bs = arg;
	struct get_arg a = { id, blob };

	/* Restores call this from several threads (backup_opener.c). */
	if (__atomic_add_fetch(&bs->reads, 1, __ATOMIC_RELAXED) %
	    BACKUP_TRIM_EVERY == 0)
		store_trim_resident(bs->st);
	return store_view(bs->st, local_get_fn, &a);
}

void backup_local_source(struct chunk_source *src, struct backup_store *bs)
{
	src->get = local_get;
	src->arg = bs;
	src->key = &bs->key;
}

int chunks_delete(struct store_txn *t, const unsigned char *ids, size_t n)
{
	unsigned char qk[1 + BT_ID_BYTES];
	size_t i;
	int ret;

	qk[0] = 'c';
	for (i = 0; i < n; i++) {
		const unsigned char *id = ids + i * BT_ID_BYTES;

		memcpy(qk + 1, id, BT_ID_BYTES);
		ret = store_del(t, "chunks", id, BT_ID_BYTES);
		if (ret && ret != FURROW_ENOENT)
			return ret;
		ret = store_del(t, "offsite", qk, sizeof(qk));
		if (ret && ret != FURROW_ENOENT)
			return ret;
	}
	return 0;
}

/* ---- snapshot records ---- */

void record_release(struct backup_record *r)
{
	size_t i;

	for (i = 0; i < r->npaths; i++)
		free(r->paths[i]);
	free(r->paths);
	free(r->tree);
	memset(r, 0, sizeof(*r));
}

void record_encode(struct strbuf *out, const struct backup_record *r)
{
	const struct backup_info *in = &r->info;
	size_t i;

	strbuf_addstr(out, RECORD_MAGIC);
	bt_put_uvarint(out, in->id);
	bt_put_svarint(out, in->time);
	bt_put_bytes(out, in->app, strlen(in->app));
	bt_put_bytes(out, in->tag, strlen(in->tag));
	bt_put_bytes(out, in->commit, strlen(in->commit));
	bt_put_uvarint(out, in->files);
	bt_put_uvarint(out, in->bytes);
	bt_put_uvarint(out, r->npaths);
	for (i = 0; i < r->npaths; i++)
		bt_put_bytes(out, r->paths[i], strlen(r->paths[i]));
	bt_put_uvarint(out, r->tree_len);
	bt_put_uvarint(out, r->ntree);
	for (i = 0; i < r->ntree; i++)
		bt_add_extent(out, &r->tree[i]);
}

static int copy_str(char *dst, size_t cap, const char *s, size_t n)
{
	if (n >= cap || memchr(s, '\0', n))
		return -1;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return 0;
}

int record_decode(struct backup_record *r, const void *buf, size_t len)
{
	const unsigned char *p = buf, *end = p + len;
	size_t m = strlen(RECORD_MAGIC), n, i;
	uint64_t u, np, nt;
	int64_t t;
	const char *s;

	memset(r, 0, sizeof(*r));
	if (len < m || memcmp(buf, RECORD_MAGIC, m))
		goto bad;
	p += m;
	if (bt_get_uvarint(&p, end, &r->info.id) ||
	    bt_get_svarint(&p, end, &t) ||
	    bt_get_bytes(&p, end, 63, &s, &n) ||
	    copy_str(r->info.app, sizeof(r->info.app), s, n) ||
	    bt_get_bytes(&p, end, BACKUP_TAG_BYTES - 1, &s, &n) ||
	    copy_str(r->info.tag, sizeof(r->info.tag), s, n) ||
	    bt_get_bytes(&p, end, 40, &s, &n) ||
	    copy_str(r->info.commit, sizeof(r->info.commit), s, n) ||
	    bt_get_uvarint(&p, end, &r->info.files) ||
	    bt_get_uvarint(&p, end, &r->info.bytes) ||
	    bt_get_uvarint(&p, end, &np) || np > LIMIT_APP_BACKUP_PATHS)
		goto bad;
	r->info.time = t;
	r->paths = calloc(np ? np : 1, sizeof(*r->paths));
	for (i = 0; i < np; i++) {
		if (bt_get_bytes(&p, end, LIMIT_PATH_BYTES, &s, &n) ||
		    !bt_path_valid(s, n))
			goto bad;
		r->paths[i] = strndup(s, n);
		r->npaths++;
	}
	if (bt_get_uvarint(&p, end, &r->tree_len) ||
	    r->tree_len > LIMIT_BACKUP_TREE_BYTES ||
	    bt_get_uvarint(&p, end, &nt) || nt > (uint64_t)(end - p))
		goto bad;
	r->tree = calloc(nt ? nt : 1, sizeof(*r->tree));
	u = 0;
	for (i = 0; i < nt; i++) {
		struct bt_extent *x = &r->tree[i];

		if (bt_get_uvarint(&p, end, &x->len) || x->len == 0 ||
		    x->len > LIMIT_BACKUP_CHUNK_BYTES || p >= end || *p++ != 1 ||
		    (size_t)(end - p) < BT_ID_BYTES)
			goto bad;
		memcpy(x->id, p, BT_ID_BYTES);
		p += BT_ID_BYTES;
		u += x->len;
		r->ntree++;
	}
	if (u != r->tree_len || p != end)
		goto bad;
	return 0;
bad:
	record_release(r);
	return error_set(FURROW_ESYNTAX, "snapshot record is malformed");
}

static const char record_name[] = "snapshot";

int record_seal(const struct backup_key *k, const struct backup_record *r,
		struct strbuf *blob)
{
	struct strbuf plain = STRBUF_INIT;
	int ret;

	record_encode(&plain, r);
	strbuf_reset(blob);
	ret = backup_seal(k, 's', record_name, strlen(record_name), plain.buf,
			  plain.len, blob);
	strbuf_release(&plain);
	return ret;
}

int record_unseal(const struct backup_key *k, const void *blob, size_t len,
		  struct backup_record *r)
{
	struct strbuf plain = STRBUF_INIT;
	int ret = backup_open_blob(k, 's', record_name, strlen(record_name),
				   blob, len, &plain);

	memset(r, 0, sizeof(*r));
	if (!ret)
		ret = record_decode(r, plain.buf, plain.len);
	strbuf_release(&plain);
	return ret;
}

int tree_load(const struct chunk_source *src, const struct backup_record *r,
	      struct strbuf *tree)
{
	struct strbuf blob = STRBUF_INIT, plain = STRBUF_INIT;
	size_t i;
	int ret = 0;

	strbuf_reset(tree);
	for (i = 0; i < r->ntree && !ret; i++) {
		ret = chunk_read(src, r->tree[i].id, &blob, &plain);
		if (!ret && plain.len != r->tree[i].len)
			ret = error_set(FURROW_EVERIFY, "tree chunk %zu has the "
					"wrong length", i);
		if (!ret)
			strbuf_add(tree, plain.buf, plain.len);
	}
	if (!ret && tree->len != r->tree_len)
		ret = error_set(FURROW_EVERIFY, "tree has the wrong length");
	if (ret)
		ret = error_prefix(ret, "snapshot %llu of %s",
				   (unsigned long long)r->info.id, r->info.app);
	strbuf_release(&blob);
	strbuf_release(&plain);
	return ret;
}

/* ---- loading records ---- */

struct load_arg {
	struct backup_store *bs;
	const char *app;
	struct backup_record *v;
	size_t n, alloc;
	int ret;
};

static int load_one(const void *key, size_t klen, const void *val,
		    size_t vlen, void *arg)
{
	struct load_arg *a = arg;
	struct backup_record r;
	int ret;

	if ((ret = record_unseal(&a->bs->key, val, vlen, &r)))
		return error_prefix(ret, "snapshot %.*s", (int)klen,
				    (const char *)key);
	if (a->app && strcmp(a->app, r.info.app)) {
		record_release(&r);
		return 0;
	}
	if (a->n == a->alloc) {
		a->alloc = a->alloc ? 2 * a->alloc : 16;
		a->v = realloc(a->v, a->alloc * sizeof(*a->v));
	}
	a->v[a->n++] = r;
	return 0;
}

static int load_fn(struct store_txn *t, void *arg)
{
	return store_foreach(t, "snapshots", NULL, 0, load_one, arg);
}

int records_load(struct backup_store *bs, const char *app,
		 struct backup_record **out, size_t *n)
{
	struct load_arg a = { bs, app, NULL, 0, 0, 0 };
	int ret = store_view(bs->st, load_fn, &a);

	if (ret) {
		records_free(a.v, a.n);
		*out = NULL;
		*n = 0;
		return ret;
	}
	*out = a.v;
	*n = a.n;
	return 0;
}

void records_free(struct backup_record *r, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		record_release(&r[i]);
	free(r);
}

struct one_arg {
	struct backup_store *bs;
	uint64_t id;
	struct backup_record *r;
};

static int one_fn(struct store_txn *t, void *arg)
{
	struct one_arg *a = arg;
	char key[11];
	const void *v;
	size_t n;
	int ret;

	snapshot_key(a->id, key);
	ret = store_get(t, "snapshots", key, 10, &v, &n);
	if (ret == FURROW_ENOENT)
		return error_set(FURROW_ENOENT, "no snapshot %llu",
				 (unsigned long long)a->id);
	if (ret)
		return ret;
	return record_unseal(&a->bs->key, v, n, a->r);
}

int record_load(struct backup_store *bs, uint64_t id, struct backup_record *r)
{
	struct one_arg a = { bs, id, r };

	memset(r, 0, sizeof(*r));
	return store_view(bs->st, one_fn, &a);
}

int backup_list(struct backup_store *bs, const char *app,
		struct backup_info **out, size_t *n)
{
	struct backup_record *r;
	size_t i, cnt;
	int ret = records_load(bs, app, &r, &cnt);

	*out = NULL;
	*n = 0;
	if (ret)
		return ret;
	*out = calloc(cnt ? cnt : 1, sizeof(**out));
	for (i = 0; i < cnt; i++)
		(*out)[i] = r[i].info;
	*n = cnt;
	records_free(r, cnt);
	return 0;
}

int backup_find(struct backup_store *bs, const char *app, const char *which,
		struct backup_info *out)
{
	struct backup_info *v;
	size_t n, i;
	char *end;
	unsigned long long id = 0;
	int latest = !strcmp(which, "latest"), ret;

	if (!latest) {
		errno = 0;
		id = strtoull(which, &end, 10);
		if (!*which || *end || errno || !id)
			return error_set(FURROW_EINVAL, "snapshot \"%s\": give a "
					 "snapshot id (see `furrow backup "
					 "list`) or \"latest\"", which);
	}
	if ((ret = backup_list(bs, app, &v, &n)))
		return ret;
	ret = error_set(FURROW_ENOENT, latest ? "app %s has no snapshot" :
			"app %s has no snapshot %s", app, which);
	for (i = n; i-- > 0;) {
		if (latest || v[i].id == id) {
			*out = v[i];
			error_clear();
			ret = 0;
			break;
		}
	}
	free(v);
	return ret;
}
