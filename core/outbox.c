/*
 * outbox.c - store and forward for reports and events (see outbox.h).
 *
 * Layout, all in the state store (store.h):
 *
 *   "outbox"      key: sequence number, 8 bytes big-endian
 *                 value: kind (1 byte), enqueue time (8 bytes, signed
 *                 big-endian epoch seconds), body
 *   "deadletter"  key: the item's key
 *                 value: kind (1 byte; 0xff: the item was unreadable and
 *                 the body is its whole raw value), enqueue time (8),
 *                 dead-letter time (8), reason length (2, big-endian),
 *                 reason, body
 *   "meta"        outbox_last_seq, outbox_depth, outbox_bytes,
 *                 outbox_dropped_{heartbeat,report,event}, outbox_dead:
 *                 decimal text, like the store's own meta values
 *
 * outbox_depth and outbox_bytes are a cache of what a scan of "outbox"
 * would count, kept so that an add that needs no room made does not
 * scan.  They are changed in the transaction that changes the table, so
 * they cannot drift through a crash; they can drift only if something
 * other than this file writes "outbox".  Then: a missing or garbled
 * cache, or one that a delete would take below zero, is thrown away and
 * rebuilt by a scan at the next add; every add that must make room scans
 * anyway and rewrites it from what it counted; outbox_stats() always
 * counts afresh.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bug.h"
#include "error.h"
#include "limits.h"
#include "outbox.h"
#include "store.h"
#include "strbuf.h"
#include "banned.h"

#define OUTBOX_TABLE "outbox"
#define DEAD_TABLE "deadletter"
#define SEQ_BYTES 8
#define ITEM_HDR 9               /* kind, enqueue time */
#define DEAD_HDR 19              /* kind, two times, reason length */
#define DEAD_KIND_UNREADABLE 0xff

/* The reason given to an item this furrow cannot read (outbox.h). */
#define UNREADABLE_REASON "unreadable outbox item"

/*
 * The largest body any store value can carry: a dead letter holds the
 * body (or, for an unreadable item, the whole item) behind its own header
 * and a reason of up to LIMIT_OUTBOX_REASON_BYTES, and must still fit in
 * one store value, or the item could not be moved there.
 */
#define BODY_HARD_MAX ((size_t)LIMIT_STORE_VALUE_BYTES - DEAD_HDR - ITEM_HDR - \
		       LIMIT_OUTBOX_REASON_BYTES)

static const char key_last_seq[] = "outbox_last_seq";
static const char key_depth[] = "outbox_depth";
static const char key_bytes[] = "outbox_bytes";
static const char key_dead[] = "outbox_dead";
static const char *const key_dropped[OUTBOX_NKINDS] = {
	"outbox_dropped_heartbeat", "outbox_dropped_report",
	"outbox_dropped_event",
};

static const char *const kind_names[OUTBOX_NKINDS] = {
	"heartbeat", "report", "event",
};

const char *outbox_kind_name(enum outbox_kind kind)
{
	if ((unsigned)kind >= OUTBOX_NKINDS)
		BUG("bad outbox kind %d", (int)kind);
	return kind_names[kind];
}

/* ---- encoding ----------------------------------------------------------- */

static void put_be(unsigned char *p, uint64_t v, int n)
{
	int i;

	for (i = n - 1; i >= 0; i--) {
		p[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

static uint64_t get_be(const unsigned char *p, int n)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* An enqueue time as 8 bytes, two's complement. */
static uint64_t time_bits(long long t)
{
	return (uint64_t)t;
}

static long long time_of_bits(uint64_t bits)
{
	long long t;

	/* Conversion of an out-of-range unsigned to signed is
	 * implementation-defined; memcpy says what is meant. */
	memcpy(&t, &bits, sizeof(t));
	return t;
}

/* One item as decoded; pointers into the map (store.h rules). */
struct item {
	uint64_t seq;
	enum outbox_kind kind;
	long long enqueued;
	const char *body;
	size_t len;
};

/* Decode an "outbox" record.  FURROW_ESYNTAX naming the sequence number
 * if this furrow cannot read it. */
static int item_decode(const void *key, size_t klen, const void *val,
		       size_t vlen, struct item *it)
{
	const unsigned char *v = val;

	if (klen != SEQ_BYTES)
		return error_set(FURROW_ESYNTAX, "outbox: an item has a "
				 "%zu-byte key, not a %d-byte sequence number",
				 klen, SEQ_BYTES);
	it->seq = get_be(key, SEQ_BYTES);
	if (vlen < ITEM_HDR)
		return error_set(FURROW_ESYNTAX, "outbox: item %llu is "
				 "unreadable: %zu bytes, shorter than its "
				 "header", (unsigned long long)it->seq, vlen);
	if (v[0] >= OUTBOX_NKINDS)
		return error_set(FURROW_ESYNTAX, "outbox: item %llu is "
				 "unreadable: unknown kind %u",
				 (unsigned long long)it->seq, v[0]);
	it->kind = (enum outbox_kind)v[0];
	it->enqueued = time_of_bits(get_be(v + 1, 8));
	it->body = (const char *)v + ITEM_HDR;
	it->len = vlen - ITEM_HDR;
	return 0;
}

/* The body bytes a raw "outbox" value counts for, readable or not. */
static uint64_t value_body_len(size_t vlen)
{
	return vlen > ITEM_HDR ? vlen - ITEM_HDR : 0;
}

/* ---- meta counters ------------------------------------------------------ */

/*
 * Read the decimal counter key from "meta" into *out: 0; FURROW_ENOENT
 * (no message, *out = 0) if absent; FURROW_ESYNTAX if garbled.
 */
static int meta_get(struct store_txn *t, const char *key, uint64_t *out)
{
	const unsigned char *s;
	const void *val;
	size_t n, i;
	uint64_t v = 0;
	int ret;

	*out = 0;
	ret = store_get(t, "meta", key, strlen(key), &val, &n);
	if (ret)
		return ret;
	s = val;
	for (i = 0; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
		if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			break;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (n == 0 || i != n || (s[0] == '0' && n > 1))
		return error_set(FURROW_ESYNTAX, "outbox: the state store's "
				 "meta value %s is garbled", key);
	*out = v;
	return 0;
}

/* Like meta_get(), absent being 0. */
static int meta_get0(struct store_txn *t, const char *key, uint64_t *out)
{
	int ret = meta_get(t, key, out);

	return ret == FURROW_ENOENT ? 0 : ret;
}

static int meta_put(struct store_txn *t, const char *key, uint64_t v)
{
	char num[24];
	int len = snprintf(num, sizeof(num), "%llu", (unsigned long long)v);

	return store_put(t, "meta", key, strlen(key), num, (size_t)len);
}

static int meta_add(struct store_txn *t, const char *key, uint64_t n)
{
	uint64_t v;
	int ret;

	if ((ret = meta_get0(t, key, &v)))
		return ret;
	return meta_put(t, key, v + n);
}

/* The depth/bytes cache (see the top). */
struct counts {
	uint64_t depth, bytes;
	int valid;
};

static int counts_load(struct store_txn *t, struct counts *c)
{
	int ret;

	c->valid = 0;
	ret = meta_get(t, key_depth, &c->depth);
	if (ret == 0)
		ret = meta_get(t, key_bytes, &c->bytes);
	if (ret == 0) {
		c->valid = 1;
		return 0;
	}
	if (ret == FURROW_ESYNTAX) {
		error_clear();  /* a cache: rebuilt, not an error */
		return 0;
	}
	return ret == FURROW_ENOENT ? 0 : ret;
}

static int counts_store(struct store_txn *t, const struct counts *c)
{
	int ret = meta_put(t, key_depth, c->depth);

	return ret ? ret : meta_put(t, key_bytes, c->bytes);
}

static int del_absent_ok(struct store_txn *t, const char *table,
			 const void *key, size_t klen)
{
	int ret = store_del(t, table, key, klen);

	return ret == FURROW_ENOENT ? 0 : ret;
}

/* One item of blen body bytes left the outbox: update the cache, or throw
 * it away if it does not add up (the next add recounts). */
static int counts_sub(struct store_txn *t, uint64_t blen)
{
	struct counts c;
	int ret;

	if ((ret = counts_load(t, &c)) || !c.valid)
		return ret;
	if (c.depth == 0 || c.bytes < blen) {
		if ((ret = del_absent_ok(t, "meta", key_depth,
					 strlen(key_depth))))
			return ret;
		return del_absent_ok(t, "meta", key_bytes, strlen(key_bytes));
	}
	c.depth--;
	c.bytes -= blen;
	return counts_store(t, &c);
}

/* ---- sequence numbers --------------------------------------------------- */

static int max_seq_fn(const void *key, size_t klen, const void *val,
		      size_t vlen, void *arg)
{
	(void)val;
	(void)vlen;
	if (klen != SEQ_BYTES)
		return 0;   /* not ours to number: look further back */
	*(uint64_t *)arg = get_be(key, SEQ_BYTES);
	return 1;
}

/*
 * The highest sequence number given: outbox_last_seq, but never below a
 * key in either table, so that a lost or rolled-back meta value cannot
 * make a number be given twice (the receiver would take the second
 * document for a duplicate of the first).  Costs two cursor positionings.
 */
static int last_seq(struct store_txn *t, uint64_t *out)
{
	uint64_t meta, in_box = 0, in_dead = 0;
	int ret;

	if ((ret = meta_get0(t, key_last_seq, &meta)))
		return ret;
	ret = store_foreach_rev(t, OUTBOX_TABLE, max_seq_fn, &in_box);
	if (ret >= 0)
		ret = store_foreach_rev(t, DEAD_TABLE, max_seq_fn, &in_dead);
	if (ret < 0)
		return ret;
	*out = meta;
	if (in_box > *out)
		*out = in_box;
	if (in_dead > *out)
		*out = in_dead;
	return 0;
}

/* ---- first item --------------------------------------------------------- */

struct raw {
	const void *key, *val;
	size_t klen, vlen;
};

static int first_fn(const void *key, size_t klen, const void *val,
		    size_t vlen, void *arg)
{
	struct raw *r = arg;

	r->key = key;
	r->klen = klen;
	r->val = val;
	r->vlen = vlen;
	return 1;
}

/* The first (oldest) record of table into *r: 1, or 0 if the table is
 * empty, or an error. */
static int first_record(struct store_txn *t, const char *table, struct raw *r)
{
	return store_foreach(t, table, NULL, 0, first_fn, r);
}

/* ---- dead letters ------------------------------------------------------- */

/*
 * Move the "outbox" record under key to the dead letters with reason why,
 * counting it in outbox_dead; *blen gets the body bytes it counted for.
 * The depth/bytes cache and trimming are the caller's.  FURROW_ENOENT (no
 * message) if there is no such record.
 */
static int dead_move(struct store_txn *t, const void *key, size_t klen,
		     const char *why, long long now, uint64_t *blen)
{
	struct strbuf sb = STRBUF_INIT;
	unsigned char hdr[DEAD_HDR], k[LIMIT_STORE_KEY_BYTES];
	size_t wlen = strlen(why);
	const void *val;
	struct item it;
	size_t vlen;
	int ret;

	if (wlen > LIMIT_OUTBOX_REASON_BYTES)
		BUG("dead letter reason of %zu bytes", wlen);
	if (klen > sizeof(k))
		BUG("outbox key of %zu bytes", klen);
	/* key may point into the map: keep it past the put below. */
	memcpy(k, key, klen);
	if ((ret = store_get(t, OUTBOX_TABLE, k, klen, &val, &vlen)))
		return ret;
	*blen = value_body_len(vlen);
	if (item_decode(k, klen, val, vlen, &it) == 0) {
		hdr[0] = (unsigned char)it.kind;
		put_be(hdr + 1, time_bits(it.enqueued), 8);
	} else {
		error_clear();
		hdr[0] = DEAD_KIND_UNREADABLE;
		put_be(hdr + 1, 0, 8);
		it.body = val;
		it.len = vlen;
	}
	put_be(hdr + 9, time_bits(now), 8);
	put_be(hdr + 17, wlen, 2);
	strbuf_grow(&sb, sizeof(hdr) + wlen + it.len);
	strbuf_add(&sb, hdr, sizeof(hdr));
	strbuf_add(&sb, why, wlen);
	strbuf_add(&sb, it.body, it.len);
	if ((ret = store_put(t, DEAD_TABLE, k, klen, sb.buf, sb.len)) ||
	    (ret = store_del(t, OUTBOX_TABLE, k, klen)))
		goto out;
	ret = meta_add(t, key_dead, 1);
out:
	strbuf_release(&sb);
	return ret;
}

struct rawkey {
	size_t len;
	unsigned char b[LIMIT_STORE_KEY_BYTES];
};

struct trim {
	size_t n, skip;      /* records seen; how many to delete */
	struct rawkey *keys;
};

static int count_fn(const void *key, size_t klen, const void *val,
		    size_t vlen, void *arg)
{
	(void)key;
	(void)klen;
	(void)val;
	(void)vlen;
	((struct trim *)arg)->n++;
	return 0;
}

static int collect_fn(const void *key, size_t klen, const void *val,
		      size_t vlen, void *arg)
{
	struct trim *tr = arg;

	(void)val;
	(void)vlen;
	if (tr->n == tr->skip)
		return 1;
	if (klen > LIMIT_STORE_KEY_BYTES)
		BUG("key of %zu bytes", klen);
	tr->keys[tr->n].len = klen;
	memcpy(tr->keys[tr->n].b, key, klen);
	tr->n++;
	return 0;
}

/* Keep the OUTBOX_DEADLETTER_KEEP dead letters with the highest keys
 * (the newest).  The table is at most a few records over, so counting it
 * is cheap. */
static int dead_trim(struct store_txn *t)
{
	struct trim tr = { 0, 0, NULL };
	size_t i;
	int ret;

	if ((ret = store_foreach(t, DEAD_TABLE, NULL, 0, count_fn, &tr)) < 0)
		return ret;
	if (tr.n <= OUTBOX_DEADLETTER_KEEP)
		return 0;
	tr.skip = tr.n - OUTBOX_DEADLETTER_KEEP;
	tr.n = 0;
	tr.keys = xmallocarray(tr.skip, sizeof(*tr.keys));
	ret = store_foreach(t, DEAD_TABLE, NULL, 0, collect_fn, &tr);
	for (i = 0; ret >= 0 && i < tr.n; i++)
		ret = store_del(t, DEAD_TABLE, tr.keys[i].b, tr.keys[i].len);
	free(tr.keys);
	return ret < 0 ? ret : 0;
}

/* The reason an unreadable item is dead-lettered with: the fixed phrase,
 * then what item_decode() said (which names the sequence number). */
static void unreadable_reason(char *buf, size_t size)
{
	snprintf(buf, size, "%s: %s", UNREADABLE_REASON, error_message());
	error_clear();
}

/* ---- scanning ----------------------------------------------------------- */

struct scan_ent {
	uint64_t seq;
	uint64_t blen;
	enum outbox_kind kind;
};

struct scan {
	int collect;               /* fill ents and bad (else count only) */
	struct scan_ent *ents;     /* readable items, oldest first */
	size_t n, alloc;
	struct rawkey *bad;        /* unreadable items' keys */
	size_t nbad, badalloc;
	uint64_t depth, bytes;     /* every item, readable or not */
	uint64_t rdepth, rbytes;   /* readable items only */
	long long oldest;          /* of the oldest readable, 0 none */
	int have_oldest;
};

/* p reallocated to count elements of size bytes. */
static void *grow(void *p, size_t count, size_t size)
{
	if (size && count > SIZE_MAX / size)
		BUG("outbox: scan array overflow");
	return xrealloc(p, count * size);
}

static int scan_fn(const void *key, size_t klen, const void *val,
		   size_t vlen, void *arg)
{
	struct scan *s = arg;
	struct item it;

	s->depth++;
	s->bytes += value_body_len(vlen);
	if (item_decode(key, klen, val, vlen, &it)) {
		error_clear();
		if (!s->collect)
			return 0;
		if (s->nbad == s->badalloc) {
			s->badalloc = s->badalloc ? 2 * s->badalloc : 4;
			s->bad = grow(s->bad, s->badalloc, sizeof(*s->bad));
		}
		if (klen > LIMIT_STORE_KEY_BYTES)
			BUG("key of %zu bytes", klen);
		s->bad[s->nbad].len = klen;
		memcpy(s->bad[s->nbad].b, key, klen);
		s->nbad++;
		return 0;
	}
	s->rdepth++;
	s->rbytes += it.len;
	if (!s->have_oldest) {
		s->oldest = it.enqueued;
		s->have_oldest = 1;
	}
	if (!s->collect)
		return 0;
	if (s->n == s->alloc) {
		s->alloc = s->alloc ? 2 * s->alloc : 256;
		s->ents = grow(s->ents, s->alloc, sizeof(*s->ents));
	}
	s->ents[s->n].seq = it.seq;
	s->ents[s->n].blen = it.len;
	s->ents[s->n].kind = it.kind;
	s->n++;
	return 0;
}

static void scan_release(struct scan *s)
{
	free(s->ents);
	free(s->bad);
	memset(s, 0, sizeof(*s));
}

/* ---- add ---------------------------------------------------------------- */

struct add_job {
	size_t max_items, max_bytes;
	enum outbox_kind kind;
	const char *body;
	size_t len;
	outbox_body_fn make_body;
	void *arg;
	long long now;
	struct strbuf made;      /* make_body's output */
	struct strbuf val;       /* the record being written */
	uint64_t seq;
};

static int body_check(const struct add_job *a, size_t len)
{
	if (len > a->max_bytes)
		return error_set(FURROW_ELIMIT, "outbox: a %s body of %zu "
				 "bytes is over the outbox's max_bytes (%zu)",
				 kind_names[a->kind], len, a->max_bytes);
	if (len > BODY_HARD_MAX)
		return error_set(FURROW_ELIMIT, "outbox: a %s body of %zu "
				 "bytes is over what a store value can carry "
				 "(LIMIT_STORE_VALUE_BYTES, %u, less the "
				 "dead-letter header)", kind_names[a->kind],
				 len, LIMIT_STORE_VALUE_BYTES);
	return 0;
}

static int over(const struct add_job *a, const struct counts *c, size_t len)
{
	return c->depth + 1 > a->max_items || c->bytes + len > a->max_bytes;
}

/*
 * Count the outbox afresh into *c and, if the new item of len bytes does
 * not fit, make room: unreadable items go to the dead letters (they can
 * never be sent, and a full outbox must not refuse reports because of
 * them), then heartbeats, reports and events are dropped in that order,
 * oldest first within a kind, each counted in outbox_dropped_<kind>.
 */
static int make_room(struct store_txn *t, const struct add_job *a,
		     struct counts *c, size_t len)
{
	struct scan s = { .collect = 1 };
	uint64_t dropped[OUTBOX_NKINDS] = { 0 }, blen;
	unsigned char key[SEQ_BYTES];
	char why[LIMIT_OUTBOX_REASON_BYTES + 1];
	size_t i;
	int ret, k;

	if ((ret = store_foreach(t, OUTBOX_TABLE, NULL, 0, scan_fn, &s)) < 0)
		goto out;
	c->depth = s.depth;
	c->bytes = s.bytes;
	c->valid = 1;
	for (i = 0; i < s.nbad && over(a, c, len); i++) {
		/* Re-decode for the message that names the item. */
		const void *val;
		size_t vlen;
		struct item it;

		if ((ret = store_get(t, OUTBOX_TABLE, s.bad[i].b, s.bad[i].len,
				     &val, &vlen)))
			goto out;
		if (item_decode(s.bad[i].b, s.bad[i].len, val, vlen, &it) == 0)
			BUG("outbox item became readable");
		unreadable_reason(why, sizeof(why));
		if ((ret = dead_move(t, s.bad[i].b, s.bad[i].len, why, a->now,
				     &blen)))
			goto out;
		c->depth--;
		c->bytes -= blen;
	}
	if (i > 0 && (ret = dead_trim(t)))
		goto out;
	for (k = 0; k < OUTBOX_NKINDS && over(a, c, len); k++) {
		for (i = 0; i < s.n && over(a, c, len); i++) {
			if ((int)s.ents[i].kind != k)
				continue;
			put_be(key, s.ents[i].seq, SEQ_BYTES);
			ret = store_del(t, OUTBOX_TABLE, key, sizeof(key));
			if (ret)
				goto out;
			c->depth--;
			c->bytes -= s.ents[i].blen;
			dropped[k]++;
		}
	}
	if (over(a, c, len))
		BUG("outbox: no room after dropping everything");
	for (k = 0; k < OUTBOX_NKINDS; k++) {
		if (!dropped[k])
			continue;
		if ((ret = meta_add(t, key_dropped[k], dropped[k])))
			goto out;
	}
	ret = 0;
out:
	scan_release(&s);
	return ret;
}

static int add_txn(struct store_txn *t, void *arg)
{
	struct add_job *a = arg;
	unsigned char key[SEQ_BYTES], hdr[ITEM_HDR];
	const char *body = a->body;
	size_t len = a->len;
	struct counts c;
	uint64_t last;
	int ret;

	if ((ret = last_seq(t, &last)))
		return ret;
	if (last == UINT64_MAX)
		return error_set(FURROW_ELIMIT, "outbox: sequence numbers "
				 "exhausted");
	a->seq = last + 1;
	if (a->make_body) {
		/* A rerun (store.h) makes the body again: start empty. */
		strbuf_reset(&a->made);
		a->make_body(&a->made, a->seq, a->arg);
		body = a->made.buf;
		len = a->made.len;
		if ((ret = body_check(a, len)))
			return ret;
	}
	if ((ret = counts_load(t, &c)))
		return ret;
	if ((!c.valid || over(a, &c, len)) && (ret = make_room(t, a, &c, len)))
		return ret;
	hdr[0] = (unsigned char)a->kind;
	put_be(hdr + 1, time_bits(a->now), 8);
	strbuf_reset(&a->val);
	strbuf_grow(&a->val, sizeof(hdr) + len);
	strbuf_add(&a->val, hdr, sizeof(hdr));
	strbuf_add(&a->val, body, len);
	put_be(key, a->seq, SEQ_BYTES);
	if ((ret = store_put(t, OUTBOX_TABLE, key, sizeof(key), a->val.buf,
			     a->val.len)))
		return ret;
	c.depth++;
	c.bytes += len;
	if ((ret = counts_store(t, &c)))
		return ret;
	return meta_put(t, key_last_seq, a->seq);
}

int outbox_add(struct store *st, const struct outbox_limits *lim,
	       enum outbox_kind kind, const char *body, size_t len,
	       outbox_body_fn make_body, void *arg, uint64_t *seq)
{
	struct add_job a = {
		.max_items = lim && lim->max_items ? lim->max_items
						   : OUTBOX_DEFAULT_ITEMS,
		.max_bytes = lim && lim->max_bytes ? lim->max_bytes
						   : OUTBOX_DEFAULT_BYTES,
		.kind = kind, .body = body, .len = len,
		.make_body = make_body, .arg = arg,
		.now = (long long)time(NULL),
		.made = STRBUF_INIT, .val = STRBUF_INIT,
	};
	int ret;

	if ((unsigned)kind >= OUTBOX_NKINDS)
		BUG("bad outbox kind %d", (int)kind);
	if (!make_body && !body && len)
		BUG("outbox_add without a body");
	if (!make_body && (ret = body_check(&a, len)))
		return ret;
	ret = store_update(st, add_txn, &a);
	if (ret == 0 && seq)
		*seq = a.seq;
	strbuf_release(&a.made);
	strbuf_release(&a.val);
	return ret;
}

/* ---- peek --------------------------------------------------------------- */

struct peek_job {
	struct outbox_item *out;
	int writable;       /* may move unreadable items away */
	int need_write;     /* the read pass met one */
	int empty;          /* result: nothing waiting */
	long long now;
};

static int peek_txn(struct store_txn *t, void *arg)
{
	struct peek_job *p = arg;
	char why[LIMIT_OUTBOX_REASON_BYTES + 1];
	struct item it;
	struct raw r;
	uint64_t blen;
	int ret, moved = 0;

	p->empty = 0;
	for (;;) {
		if ((ret = first_record(t, OUTBOX_TABLE, &r)) < 0)
			return ret;
		if (ret == 0) {
			p->empty = 1;
			break;
		}
		if (item_decode(r.key, r.klen, r.val, r.vlen, &it) == 0) {
			p->out->seq = it.seq;
			p->out->kind = it.kind;
			p->out->enqueued = it.enqueued;
			strbuf_reset(p->out->body);
			strbuf_add(p->out->body, it.body, it.len);
			break;
		}
		if (!p->writable) {
			error_clear();
			p->need_write = 1;
			return 0;
		}
		unreadable_reason(why, sizeof(why));
		if ((ret = dead_move(t, r.key, r.klen, why, p->now, &blen)) ||
		    (ret = counts_sub(t, blen)))
			return ret;
		moved = 1;
	}
	/* Commit the moves even when nothing readable is left: returning
	 * ENOENT from here would undo them and peek would meet the same
	 * items again. */
	return moved ? dead_trim(t) : 0;
}

int outbox_peek(struct store *st, struct outbox_item *out)
{
	struct peek_job p = { out, 0, 0, 0, (long long)time(NULL) };
	int ret;

	if (!out->body)
		BUG("outbox_peek without a body buffer");
	ret = store_view(st, peek_txn, &p);
	if (ret == 0 && p.need_write) {
		p.writable = 1;
		ret = store_update(st, peek_txn, &p);
	}
	if (ret == 0 && p.empty)
		return FURROW_ENOENT;
	return ret;
}

/* ---- ack, dead letter --------------------------------------------------- */

static int ack_txn(struct store_txn *t, void *arg)
{
	unsigned char key[SEQ_BYTES];
	const void *val;
	size_t vlen;
	int ret;

	put_be(key, *(uint64_t *)arg, SEQ_BYTES);
	ret = store_get(t, OUTBOX_TABLE, key, sizeof(key), &val, &vlen);
	if (ret == FURROW_ENOENT)
		return 0;
	if (ret || (ret = store_del(t, OUTBOX_TABLE, key, sizeof(key))))
		return ret;
	return counts_sub(t, value_body_len(vlen));
}

int outbox_ack(struct store *st, uint64_t seq)
{
	return store_update(st, ack_txn, &seq);
}

struct dead_job {
	uint64_t seq;
	const char *why;
	long long now;
};

static int dead_txn(struct store_txn *t, void *arg)
{
	struct dead_job *d = arg;
	unsigned char key[SEQ_BYTES];
	uint64_t blen;
	int ret;

	put_be(key, d->seq, SEQ_BYTES);
	if ((ret = dead_move(t, key, sizeof(key), d->why, d->now, &blen)) ||
	    (ret = counts_sub(t, blen)))
		return ret;
	return dead_trim(t);
}

int outbox_dead_letter(struct store *st, uint64_t seq, const char *why)
{
	struct dead_job d = { seq, why ? why : "", (long long)time(NULL) };
	size_t wlen = strlen(d.why);

	if (wlen > LIMIT_OUTBOX_REASON_BYTES)
		return error_set(FURROW_ELIMIT, "outbox: a dead-letter reason "
				 "of %zu bytes is over "
				 "LIMIT_OUTBOX_REASON_BYTES (%d)", wlen,
				 LIMIT_OUTBOX_REASON_BYTES);
	return store_update(st, dead_txn, &d);
}

/* ---- stats -------------------------------------------------------------- */

static int stats_txn(struct store_txn *t, void *arg)
{
	struct outbox_stats *o = arg;
	struct scan s = { .collect = 0 };
	int ret, k;

	memset(o, 0, sizeof(*o));
	if ((ret = last_seq(t, &o->last_seq)))
		return ret;
	for (k = 0; k < OUTBOX_NKINDS; k++)
		if ((ret = meta_get0(t, key_dropped[k], &o->dropped[k])))
			return ret;
	if ((ret = meta_get0(t, key_dead, &o->dead)))
		return ret;
	if ((ret = store_foreach(t, OUTBOX_TABLE, NULL, 0, scan_fn, &s)) < 0)
		return ret;
	o->depth = s.depth;
	o->bytes = s.bytes;
	o->oldest = s.have_oldest ? s.oldest : 0;
	scan_release(&s);
	return 0;
}

int outbox_stats(struct store *st, struct outbox_stats *out)
{
	return store_view(st, stats_txn, out);
}
