/*
 * test_outbox.c - the report outbox (core/outbox.c) on a real store:
 * order, sequence numbers, bounds and what they drop, dead letters,
 * unreadable items, stats, the cost of an add, and real crashes: a forked
 * child adds items and _exit()s from a timer at a random moment; the
 * parent reopens the store and checks every committed item.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "limits.h"
#include "outbox.h"
#include "store.h"
#include "strbuf.h"
#include "tap.h"
#include "banned.h"

static const char *dir_named(const char *name)
{
	static char bufs[4][512];
	static int next;
	char *b = bufs[next++ % 4];

	snprintf(b, sizeof(bufs[0]), "%s/%s", tap_tmpdir(), name);
	return b;
}

static void seq_key(unsigned char key[8], uint64_t seq)
{
	int i;

	for (i = 7; i >= 0; i--) {
		key[i] = (unsigned char)(seq & 0xff);
		seq >>= 8;
	}
}

static uint64_t be(const unsigned char *p, int n)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static uint64_t add(struct store *st, const struct outbox_limits *lim,
		    enum outbox_kind kind, const char *body)
{
	uint64_t seq = 0;

	if (outbox_add(st, lim, kind, body, strlen(body), NULL, NULL, &seq))
		tap_diag("add failed: %s", error_message());
	return seq;
}

/* ---- reading the tables directly (the layout outbox.h documents) ---- */

struct lister {
	struct strbuf *out;
	int bodies;          /* print bodies, else their lengths */
};

static int list_fn(const void *key, size_t klen, const void *val,
		   size_t vlen, void *arg)
{
	struct lister *l = arg;
	const unsigned char *v = val;

	if (klen != 8 || vlen < 9 || v[0] >= OUTBOX_NKINDS) {
		strbuf_addstr(l->out, "?;");
		return 0;
	}
	strbuf_addf(l->out, "%llu:%s:", (unsigned long long)be(key, 8),
		    outbox_kind_name((enum outbox_kind)v[0]));
	if (l->bodies)
		strbuf_add(l->out, v + 9, vlen - 9);
	else
		strbuf_addf(l->out, "%zu", vlen - 9);
	strbuf_addch(l->out, ';');
	return 0;
}

static int list_txn(struct store_txn *t, void *arg)
{
	return store_foreach(t, "outbox", NULL, 0, list_fn, arg);
}

/* "seq:kind:body;" for every item, oldest first. */
static const char *listing(struct store *st, int bodies)
{
	static struct strbuf sb = STRBUF_INIT;
	struct lister l = { &sb, bodies };

	strbuf_reset(&sb);
	if (store_view(st, list_txn, &l))
		return "(error)";
	return sb.buf;
}

/* A decimal "meta" value, or -1 if absent. */
static long long meta_num(struct store *st, const char *key)
{
	struct strbuf sb = STRBUF_INIT;
	long long v = -1;

	if (store_get_copy(st, "meta", key, strlen(key), &sb) == 0)
		v = strtoll(sb.buf, NULL, 10);
	strbuf_release(&sb);
	return v;
}

/* The running totals in "meta" agree with a fresh count (if present). */
static void check_totals(struct store *st, const char *what)
{
	struct outbox_stats s;
	long long d = meta_num(st, "outbox_depth"),
		  b = meta_num(st, "outbox_bytes");

	outbox_stats(st, &s);
	ok(d == (long long)s.depth && b == (long long)s.bytes,
	   "%s: running totals %lld items, %lld bytes = counted %llu, %llu",
	   what, d, b, (unsigned long long)s.depth,
	   (unsigned long long)s.bytes);
}

struct dead {
	int found;
	unsigned kind;
	long long enqueued, died;
	struct strbuf why, body;
};

struct dead_query {
	const void *key;
	size_t klen;
	struct dead *d;
};

static int dead_txn(struct store_txn *t, void *arg)
{
	struct dead_query *a = arg;
	const unsigned char *v;
	const void *val;
	size_t vlen, wlen;
	int ret;

	ret = store_get(t, "deadletter", a->key, a->klen, &val, &vlen);
	if (ret == FURROW_ENOENT)
		return 0;
	if (ret)
		return ret;
	v = val;
	if (vlen < 19 || vlen < 19 + (wlen = be(v + 17, 2)))
		return FURROW_ESYNTAX;
	a->d->found = 1;
	a->d->kind = v[0];
	a->d->enqueued = (long long)be(v + 1, 8);
	a->d->died = (long long)be(v + 9, 8);
	strbuf_add(&a->d->why, v + 19, wlen);
	strbuf_add(&a->d->body, v + 19 + wlen, vlen - 19 - wlen);
	return 0;
}

/* The dead letter under key into *d (d->found 0 if none). */
static int dead_get(struct store *st, const void *key, size_t klen,
		    struct dead *d)
{
	struct dead_query a = { key, klen, d };

	d->found = 0;
	strbuf_reset(&d->why);
	strbuf_reset(&d->body);
	return store_view(st, dead_txn, &a);
}

static int dead_get_seq(struct store *st, uint64_t seq, struct dead *d)
{
	unsigned char key[8];

	seq_key(key, seq);
	return dead_get(st, key, sizeof(key), d);
}

struct dead_keys {
	int n;
	uint64_t first, last;
};

static int dead_keys_fn(const void *key, size_t klen, const void *val,
			size_t vlen, void *arg)
{
	struct dead_keys *k = arg;

	(void)val;
	(void)vlen;
	if (klen == 8) {
		if (!k->n)
			k->first = be(key, 8);
		k->last = be(key, 8);
	}
	k->n++;
	return 0;
}

static int dead_keys_txn(struct store_txn *t, void *arg)
{
	return store_foreach(t, "deadletter", NULL, 0, dead_keys_fn, arg);
}

/* ---- order and sequence numbers ---- */

static void make_seq_body(struct strbuf *body, uint64_t seq, void *arg)
{
	(*(int *)arg)++;
	strbuf_addf(body, "{\"seq\":%llu}", (unsigned long long)seq);
}

static void make_big_body(struct strbuf *body, uint64_t seq, void *arg)
{
	(void)seq;
	(void)arg;
	while (body->len < 200)
		strbuf_addch(body, 'x');
}

static void test_order(void)
{
	const char *dir = dir_named("order");
	struct strbuf body = STRBUF_INIT;
	struct outbox_item it = { 0, 0, 0, &body };
	struct outbox_limits small = { 0, 100 };
	struct outbox_stats s;
	struct store *st = NULL;
	long long t0 = (long long)time(NULL);
	uint64_t seq = 0;
	int calls = 0;

	is_str(outbox_kind_name(OUTBOX_HEARTBEAT), "heartbeat", "kind name");
	is_str(outbox_kind_name(OUTBOX_EVENT), "event", "kind name");
	is_int(store_open(&st, dir, NULL), 0, "open store");
	is_int(outbox_stats(st, &s), 0, "stats of a new outbox");
	ok(s.depth == 0 && s.bytes == 0 && s.last_seq == 0 && s.dead == 0 &&
	   s.oldest == 0 && !s.dropped[0] && !s.dropped[1] && !s.dropped[2],
	   "all zero");
	error_clear();
	is_int(outbox_peek(st, &it), FURROW_ENOENT, "peek on empty");
	is_str(error_message(), "", "without a message");

	is_int(add(st, NULL, OUTBOX_HEARTBEAT, "h1"), 1, "first seq is 1");
	is_int(add(st, NULL, OUTBOX_REPORT, "r1"), 2, "then 2");
	is_int(add(st, NULL, OUTBOX_EVENT, "e1"), 3, "then 3");
	is_str(listing(st, 1), "1:heartbeat:h1;2:report:r1;3:event:e1;",
	       "stored in order");
	check_totals(st, "after adds");

	is_int(outbox_peek(st, &it), 0, "peek");
	ok(it.seq == 1 && it.kind == OUTBOX_HEARTBEAT && !strcmp(body.buf, "h1")
	   && it.enqueued >= t0 && it.enqueued <= (long long)time(NULL),
	   "oldest first: %llu %s", (unsigned long long)it.seq, body.buf);
	is_int(outbox_peek(st, &it), 0, "peek again");
	is_int(it.seq, 1, "peek does not remove");
	is_int(outbox_ack(st, 1), 0, "ack 1");
	is_int(outbox_peek(st, &it), 0, "peek");
	ok(it.seq == 2 && it.kind == OUTBOX_REPORT && !strcmp(body.buf, "r1"),
	   "then the report");
	is_int(outbox_ack(st, 2), 0, "ack 2");
	is_int(outbox_ack(st, 2), 0, "ack 2 again: fine");
	is_int(outbox_ack(st, 999), 0, "ack of a never-given seq: fine");
	is_int(outbox_ack(st, 3), 0, "ack 3");
	is_int(outbox_peek(st, &it), FURROW_ENOENT, "empty again");
	check_totals(st, "after acks");

	is_int(add(st, NULL, OUTBOX_REPORT, "r2"), 4,
	       "numbers go on after emptying");
	store_free(st);
	st = NULL;
	is_int(store_open(&st, dir, NULL), 0, "reopen");
	is_int(add(st, NULL, OUTBOX_REPORT, "r3"), 5,
	       "and after reopening");

	is_int(outbox_add(st, NULL, OUTBOX_EVENT, NULL, 0, make_seq_body,
			  &calls, &seq), 0, "add with make_body");
	is_int(seq, 6, "seq 6");
	ok(calls >= 1, "make_body called (%d)", calls);
	is_str(listing(st, 1), "4:report:r2;5:report:r3;6:event:{\"seq\":6};",
	       "the body carries its own sequence number");
	is_int(outbox_add(st, &small, OUTBOX_EVENT, NULL, 0, make_big_body,
			  NULL, &seq), FURROW_ELIMIT,
	       "a made body over max_bytes refused");
	ok(strstr(error_message(), "max_bytes") != NULL, "message: %s",
	   error_message());
	is_int(add(st, NULL, OUTBOX_REPORT, "r4"), 7,
	       "a refused add gives no number away");
	is_int(outbox_stats(st, &s), 0, "stats");
	ok(s.depth == 4 && s.bytes == 2 + 2 + 9 + 2 && s.last_seq == 7 &&
	   s.oldest >= t0, "depth %llu bytes %llu last %llu",
	   (unsigned long long)s.depth, (unsigned long long)s.bytes,
	   (unsigned long long)s.last_seq);
	is_int(meta_num(st, "outbox_last_seq"), 7, "last seq kept in meta");
	check_totals(st, "after reopen");
	store_free(st);
	strbuf_release(&body);
}

/* ---- bounds ---- */

static void test_item_bound(void)
{
	struct outbox_limits lim = { 5, 0 };
	struct outbox_stats s;
	struct store *st = NULL;

	is_int(store_open(&st, dir_named("items"), NULL), 0, "open store");
	add(st, &lim, OUTBOX_HEARTBEAT, "h1");
	add(st, &lim, OUTBOX_REPORT, "r1");
	add(st, &lim, OUTBOX_EVENT, "e1");
	add(st, &lim, OUTBOX_HEARTBEAT, "h2");
	add(st, &lim, OUTBOX_REPORT, "r2");
	is_str(listing(st, 1), "1:heartbeat:h1;2:report:r1;3:event:e1;"
	       "4:heartbeat:h2;5:report:r2;", "five fit");
	add(st, &lim, OUTBOX_EVENT, "e2");
	is_str(listing(st, 1), "2:report:r1;3:event:e1;4:heartbeat:h2;"
	       "5:report:r2;6:event:e2;", "the oldest heartbeat dropped");
	add(st, &lim, OUTBOX_EVENT, "e3");
	is_str(listing(st, 1), "2:report:r1;3:event:e1;5:report:r2;"
	       "6:event:e2;7:event:e3;", "then the next heartbeat");
	add(st, &lim, OUTBOX_EVENT, "e4");
	is_str(listing(st, 1), "3:event:e1;5:report:r2;6:event:e2;"
	       "7:event:e3;8:event:e4;", "then the oldest report");
	add(st, &lim, OUTBOX_EVENT, "e5");
	is_str(listing(st, 1), "3:event:e1;6:event:e2;7:event:e3;8:event:e4;"
	       "9:event:e5;", "then the next report");
	add(st, &lim, OUTBOX_HEARTBEAT, "h3");
	is_str(listing(st, 1), "6:event:e2;7:event:e3;8:event:e4;9:event:e5;"
	       "10:heartbeat:h3;", "events go only when nothing else is left");
	add(st, &lim, OUTBOX_REPORT, "r3");
	is_str(listing(st, 1), "6:event:e2;7:event:e3;8:event:e4;9:event:e5;"
	       "11:report:r3;", "a heartbeat goes before an event again");
	is_int(outbox_stats(st, &s), 0, "stats");
	ok(s.depth == 5 && s.dropped[OUTBOX_HEARTBEAT] == 3 &&
	   s.dropped[OUTBOX_REPORT] == 2 && s.dropped[OUTBOX_EVENT] == 1 &&
	   s.last_seq == 11, "dropped per kind %llu/%llu/%llu",
	   (unsigned long long)s.dropped[0], (unsigned long long)s.dropped[1],
	   (unsigned long long)s.dropped[2]);
	is_int(meta_num(st, "outbox_dropped_heartbeat"), 3,
	       "dropped counts kept in meta");
	check_totals(st, "item bound");
	store_free(st);
	st = NULL;
	is_int(store_open(&st, dir_named("items"), NULL), 0, "reopen");
	is_int(outbox_stats(st, &s), 0, "stats");
	ok(s.dropped[0] == 3 && s.dropped[1] == 2 && s.dropped[2] == 1,
	   "dropped counts survive a reopen");
	store_free(st);
}

static const char *fill(size_t n, int c)
{
	static char buf[256];

	memset(buf, c, n);
	buf[n] = '\0';
	return buf;
}

static void test_byte_bound(void)
{
	struct outbox_limits lim = { 0, 100 };
	struct outbox_stats s;
	struct store *st = NULL;
	uint64_t seq = 0;

	is_int(store_open(&st, dir_named("bytes"), NULL), 0, "open store");
	add(st, &lim, OUTBOX_HEARTBEAT, fill(30, 'h'));
	add(st, &lim, OUTBOX_REPORT, fill(30, 'r'));
	add(st, &lim, OUTBOX_EVENT, fill(30, 'e'));
	is_str(listing(st, 0), "1:heartbeat:30;2:report:30;3:event:30;",
	       "90 bytes fit in 100");
	add(st, &lim, OUTBOX_EVENT, fill(30, 'e'));
	is_str(listing(st, 0), "2:report:30;3:event:30;4:event:30;",
	       "120 would not: the heartbeat dropped");
	add(st, &lim, OUTBOX_REPORT, fill(20, 'r'));
	is_str(listing(st, 0), "3:event:30;4:event:30;5:report:20;",
	       "then the oldest report");
	add(st, &lim, OUTBOX_EVENT, fill(25, 'e'));
	is_str(listing(st, 0), "3:event:30;4:event:30;6:event:25;",
	       "then the next report");
	add(st, &lim, OUTBOX_HEARTBEAT, fill(40, 'h'));
	is_str(listing(st, 0), "4:event:30;6:event:25;7:heartbeat:40;",
	       "then the oldest event, the only kind left");
	is_int(outbox_stats(st, &s), 0, "stats");
	ok(s.depth == 3 && s.bytes == 95 && s.dropped[0] == 1 &&
	   s.dropped[1] == 2 && s.dropped[2] == 1, "95 bytes; dropped 1/2/1");
	check_totals(st, "byte bound");

	is_int(outbox_add(st, &lim, OUTBOX_REPORT, fill(101, 'r'), 101, NULL,
			  NULL, &seq), FURROW_ELIMIT,
	       "a body over max_bytes refused");
	ok(strstr(error_message(), "101") && strstr(error_message(), "100"),
	   "message: %s", error_message());
	is_str(listing(st, 0), "4:event:30;6:event:25;7:heartbeat:40;",
	       "nothing dropped for it");
	is_int(add(st, &lim, OUTBOX_REPORT, fill(100, 'r')), 8,
	       "a body of exactly max_bytes taken");
	is_str(listing(st, 0), "8:report:100;", "everything else made room");
	is_int(outbox_stats(st, &s), 0, "stats");
	ok(s.depth == 1 && s.bytes == 100 && s.dropped[0] == 2 &&
	   s.dropped[1] == 2 && s.dropped[2] == 3, "dropped 2/2/3");
	check_totals(st, "byte bound, full");
	store_free(st);
}

/* ---- dead letters ---- */

static void test_dead_letters(void)
{
	struct dead d = { 0, 0, 0, 0, STRBUF_INIT, STRBUF_INIT };
	struct dead_keys k = { 0, 0, 0 };
	struct outbox_stats s;
	struct store *st = NULL;
	char longwhy[LIMIT_OUTBOX_REASON_BYTES + 2];
	long long t0 = (long long)time(NULL);
	int i, failed = 0;

	is_int(store_open(&st, dir_named("dead"), NULL), 0, "open store");
	add(st, NULL, OUTBOX_REPORT, "r1");
	add(st, NULL, OUTBOX_EVENT, "e1");
	is_int(outbox_dead_letter(st, 1, "HTTP 422: bad schema"), 0,
	       "dead-letter 1");
	is_str(listing(st, 1), "2:event:e1;", "gone from the outbox");
	is_int(dead_get_seq(st, 1, &d), 0, "read the dead letter");
	ok(d.found && d.kind == OUTBOX_REPORT && d.enqueued >= t0 &&
	   d.died >= d.enqueued && d.died <= (long long)time(NULL),
	   "kind and times kept");
	is_str(d.why.buf, "HTTP 422: bad schema", "with its reason");
	is_str(d.body.buf, "r1", "and its body");
	is_int(outbox_dead_letter(st, 1, "again"), FURROW_ENOENT,
	       "an absent item: ENOENT");
	memset(longwhy, 'w', sizeof(longwhy) - 1);
	longwhy[sizeof(longwhy) - 1] = '\0';
	is_int(outbox_dead_letter(st, 2, longwhy), FURROW_ELIMIT,
	       "an overlong reason refused");
	ok(strstr(error_message(), "LIMIT_OUTBOX_REASON_BYTES") != NULL,
	   "message: %s", error_message());
	is_str(listing(st, 1), "2:event:e1;", "and the item stays");
	is_int(outbox_dead_letter(st, 2, NULL), 0, "NULL reason");
	dead_get_seq(st, 2, &d);
	ok(d.found && d.why.len == 0 && !strcmp(d.body.buf, "e1"),
	   "an empty reason");
	check_totals(st, "dead letters");

	for (i = 0; i < OUTBOX_DEADLETTER_KEEP + 5; i++) {
		uint64_t seq = add(st, NULL, OUTBOX_REPORT, "r");

		if (outbox_dead_letter(st, seq, "refused"))
			failed++;
	}
	is_int(failed, 0, "105 more dead-lettered");
	is_int(store_view(st, dead_keys_txn, &k), 0, "count dead letters");
	ok(k.n == OUTBOX_DEADLETTER_KEEP && k.first == 8 && k.last == 107,
	   "the newest %d kept: %d, %llu..%llu", OUTBOX_DEADLETTER_KEEP, k.n,
	   (unsigned long long)k.first, (unsigned long long)k.last);
	is_int(outbox_stats(st, &s), 0, "stats");
	ok(s.dead == 107 && s.depth == 0 && s.bytes == 0 && s.oldest == 0 &&
	   s.last_seq == 107, "dead %llu, depth %llu",
	   (unsigned long long)s.dead, (unsigned long long)s.depth);
	check_totals(st, "after 107 dead letters");
	store_free(st);
	strbuf_release(&d.why);
	strbuf_release(&d.body);
}

/* ---- unreadable items ---- */

static void test_unreadable(void)
{
	struct dead d = { 0, 0, 0, 0, STRBUF_INIT, STRBUF_INIT };
	struct strbuf body = STRBUF_INIT;
	struct outbox_item it = { 0, 0, 0, &body };
	struct outbox_limits lim = { 3, 0 };
	static const unsigned char bad_kind[] = { 9, 0, 0, 0, 0, 0, 0, 0, 1,
						  'z', 'z' };
	struct outbox_stats s;
	struct store *st = NULL;
	unsigned char key[8];

	is_int(store_open(&st, dir_named("bad"), NULL), 0, "open store");
	seq_key(key, 1);
	is_int(store_put1(st, "outbox", key, 8, "x", 1), 0,
	       "plant a short item at 1");
	seq_key(key, 2);
	is_int(store_put1(st, "outbox", key, 8, bad_kind, sizeof(bad_kind)), 0,
	       "plant an unknown kind at 2");
	is_int(add(st, NULL, OUTBOX_REPORT, "good"), 3,
	       "a new number is above every key");
	is_int(outbox_peek(st, &it), 0, "peek");
	ok(it.seq == 3 && !strcmp(body.buf, "good"),
	   "peek skipped to the readable item: %llu",
	   (unsigned long long)it.seq);
	is_str(listing(st, 1), "3:report:good;", "the bad ones left the outbox");
	dead_get_seq(st, 1, &d);
	ok(d.found && d.kind == 0xff && !strcmp(d.body.buf, "x") &&
	   !strncmp(d.why.buf, "unreadable outbox item: ", 24) &&
	   strstr(d.why.buf, "item 1") != NULL,
	   "1 dead-lettered raw: %s", d.why.buf);
	dead_get_seq(st, 2, &d);
	ok(d.found && d.kind == 0xff && d.body.len == sizeof(bad_kind) &&
	   !strncmp(d.why.buf, "unreadable outbox item: ", 24) &&
	   strstr(d.why.buf, "item 2") && strstr(d.why.buf, "kind 9"),
	   "2 dead-lettered raw: %s", d.why.buf);

	/* A key that is no sequence number sorts after them all. */
	is_int(store_put1(st, "outbox", "zz", 2, "junk", 4), 0,
	       "plant an item under a 2-byte key");
	is_int(outbox_ack(st, 3), 0, "ack 3");
	is_int(outbox_peek(st, &it), FURROW_ENOENT,
	       "peek: nothing readable left");
	is_str(listing(st, 1), "", "yet the move was committed");
	dead_get(st, "zz", 2, &d);
	ok(d.found && !strcmp(d.body.buf, "junk"), "kept under its own key");
	is_int(outbox_stats(st, &s), 0, "stats");
	ok(s.dead == 3 && s.depth == 0 && s.last_seq == 3, "3 dead, none left");
	is_int(add(st, NULL, OUTBOX_REPORT, "r"), 4, "numbering goes on");
	check_totals(st, "recounted after planted items");

	/* A full outbox with an unreadable item: it goes before a report. */
	add(st, &lim, OUTBOX_REPORT, "r");             /* 5 */
	seq_key(key, 6);
	store_put1(st, "outbox", key, 8, "", 0);       /* 6, not counted */
	add(st, &lim, OUTBOX_REPORT, "r");             /* 7: 4 items now */
	add(st, &lim, OUTBOX_REPORT, "r");             /* 8 */
	is_str(listing(st, 1), "5:report:r;7:report:r;8:report:r;",
	       "making room moved the bad item first, then the oldest report");
	is_int(outbox_stats(st, &s), 0, "stats");
	ok(s.dead == 4 && s.dropped[OUTBOX_REPORT] == 1 && s.depth == 3,
	   "dead %llu, reports dropped %llu", (unsigned long long)s.dead,
	   (unsigned long long)s.dropped[OUTBOX_REPORT]);
	check_totals(st, "after making room");
	store_free(st);
	strbuf_release(&body);
	strbuf_release(&d.why);
	strbuf_release(&d.body);
}

/* ---- crashes ---- */

/* A body that says which seq it belongs to, of a length varying with it. */
static void crash_body(struct strbuf *body, uint64_t seq, void *arg)
{
	size_t n = (size_t)(seq * 37 % 3000);

	(void)arg;
	strbuf_addf(body, "item %llu ", (unsigned long long)seq);
	while (n--)
		strbuf_addch(body, (char)('a' + seq % 26));
}

static int body_intact(uint64_t seq, const unsigned char *b, size_t len)
{
	struct strbuf want = STRBUF_INIT;
	int same;

	crash_body(&want, seq, NULL);
	same = want.len == len && !memcmp(want.buf, b, len);
	strbuf_release(&want);
	return same;
}

static void on_alarm(int sig)
{
	(void)sig;
	_exit(3);
}

/* Child: add items until the timer goes off at usec, writing each seq to
 * fd once outbox_add() returned. */
static void crash_child(const char *dir, const struct outbox_limits *lim,
			long usec, int fd)
{
	struct itimerval tv = { { 0, 0 }, { usec / 1000000, usec % 1000000 } };
	struct outbox_stats s;
	struct store *st = NULL;
	uint64_t seq, i;

	if (store_open(&st, dir, NULL) || outbox_stats(st, &s))
		_exit(1);
	signal(SIGALRM, on_alarm);
	setitimer(ITIMER_REAL, &tv, NULL);
	/* Item seq is of kind (seq - 1) % OUTBOX_NKINDS. */
	for (i = s.last_seq;; i++) {
		if (outbox_add(st, lim, (enum outbox_kind)(i % OUTBOX_NKINDS),
			       NULL, 0, crash_body, NULL, &seq))
			_exit(1);
		if (write(fd, &seq, sizeof(seq)) != sizeof(seq))
			_exit(1);
	}
}

struct check {
	int items, bad;
	uint64_t bytes;
	const uint64_t *want;  /* seqs that must be present */
	size_t nwant, found;
};

static int check_fn(const void *key, size_t klen, const void *val,
		    size_t vlen, void *arg)
{
	struct check *c = arg;
	const unsigned char *v = val;
	uint64_t seq;
	size_t i;

	c->items++;
	if (klen != 8 || vlen < 9 || v[0] >= OUTBOX_NKINDS) {
		c->bad++;
		return 0;
	}
	seq = be(key, 8);
	c->bytes += vlen - 9;
	if (v[0] != (seq - 1) % OUTBOX_NKINDS ||
	    !body_intact(seq, v + 9, vlen - 9))
		c->bad++;
	for (i = 0; i < c->nwant; i++)
		if (c->want[i] == seq)
			c->found++;
	return 0;
}

static int check_txn(struct store_txn *t, void *arg)
{
	return store_foreach(t, "outbox", NULL, 0, check_fn, arg);
}

/* Rounds of a child killed at a random moment, on one store; lim NULL
 * means nothing is ever dropped, so every committed item must be there. */
static void push(uint64_t **seqs, size_t *n, size_t *alloc, uint64_t seq)
{
	if (*n == *alloc) {
		*alloc = *alloc ? 2 * *alloc : 1024;
		*seqs = realloc(*seqs, *alloc * sizeof(**seqs));
		if (!*seqs)
			abort();
	}
	(*seqs)[(*n)++] = seq;
}

static void crash_rounds(const char *name, const struct outbox_limits *lim)
{
	const char *dir = dir_named(name);
	uint64_t *seqs = NULL, last;
	size_t nseqs = 0, alloc = 0, before;
	int round, pfd[2], status;
	struct outbox_stats s;
	struct store *st;
	pid_t pid;

	for (round = 0; round < 6; round++) {
		long usec = 2000 + random() % 60000;
		uint64_t got, dropped;
		struct check c = { 0, 0, 0, NULL, 0, 0 };
		ssize_t r;

		if (pipe(pfd) < 0) {
			ok(0, "pipe");
			return;
		}
		fflush(NULL);
		pid = fork();
		if (pid == 0) {
			close(pfd[0]);
			crash_child(dir, lim, usec, pfd[1]);
		}
		close(pfd[1]);
		before = nseqs;
		while ((r = read(pfd[0], &got, sizeof(got))) == sizeof(got))
			push(&seqs, &nseqs, &alloc, got);
		close(pfd[0]);
		waitpid(pid, &status, 0);
		ok(WIFEXITED(status) && WEXITSTATUS(status) == 3,
		   "%s round %d: the child died mid-run after %ld us, "
		   "%zu adds committed", name, round, usec, nseqs - before);

		st = NULL;
		if (store_open(&st, dir, NULL)) {
			ok(0, "reopen: %s", error_message());
			return;
		}
		c.want = lim ? NULL : seqs;
		c.nwant = lim ? 0 : nseqs;
		store_view(st, check_txn, &c);
		outbox_stats(st, &s);
		dropped = s.dropped[0] + s.dropped[1] + s.dropped[2];
		/* At most one add committed after the last one reported. */
		last = nseqs ? seqs[nseqs - 1] : 0;
		ok(c.bad == 0 && s.depth == (uint64_t)c.items &&
		   s.bytes == c.bytes && s.depth + dropped == s.last_seq &&
		   s.last_seq >= last && s.last_seq <= last + 1,
		   "%s round %d: %d items, all intact (%d bad); depth %llu + "
		   "dropped %llu = last seq %llu", name, round, c.items, c.bad,
		   (unsigned long long)s.depth, (unsigned long long)dropped,
		   (unsigned long long)s.last_seq);
		if (lim)
			ok(s.depth <= lim->max_items, "%s round %d: within "
			   "max_items", name, round);
		else
			ok(c.found == nseqs, "%s round %d: every one of the %zu "
			   "committed adds is there", name, round, nseqs);
		check_totals(st, name);
		/* The parent adds one like the child's: numbering goes on. */
		got = 0;
		outbox_add(st, lim, (enum outbox_kind)(s.last_seq %
						       OUTBOX_NKINDS), NULL, 0,
			   crash_body, NULL, &got);
		ok(got == s.last_seq + 1, "%s round %d: the next number is %llu",
		   name, round, (unsigned long long)got);
		push(&seqs, &nseqs, &alloc, got);
		store_free(st);
	}
	free(seqs);
}

static void test_crash(void)
{
	struct outbox_limits lim = { 20, 0 };
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();

	tap_diag("crash seed %u", seed);
	srandom(seed);
	crash_rounds("crash", NULL);
	crash_rounds("crash-bounded", &lim);
}

/* ---- cost ---- */

static double clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_s(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

static double cpu_s(void)
{
	return clock_s(CLOCK_PROCESS_CPUTIME_ID);
}

static void test_cost(void)
{
	struct outbox_limits full = { 1000, 0 };
	char body[2048];
	struct store *st = NULL;
	struct outbox_stats s;
	double t0, t1, c0, c1;
	int i, failed = 0;

	memset(body, 'r', sizeof(body));
	is_int(store_open(&st, dir_named("cost"), NULL), 0, "open store");
	t0 = now_s();
	c0 = cpu_s();
	for (i = 0; i < 1000; i++)
		if (outbox_add(st, NULL, OUTBOX_REPORT, body, sizeof(body),
			       NULL, NULL, NULL))
			failed++;
	c1 = cpu_s();
	t1 = now_s();
	is_int(failed, 0, "1000 adds of a 2 KiB report");
	tap_diag("outbox_add of a 2 KiB report: %.1f us wall, %.1f us CPU per "
		 "add (1000 adds, each committed and synced; this build has "
		 "ASan/UBSan)", (t1 - t0) * 1e6 / 1000, (c1 - c0) * 1e6 / 1000);
	outbox_stats(st, &s);
	ok(s.depth == 1000 && s.bytes == 1000 * sizeof(body), "all there");

	/* Full: every add scans the 1000 waiting and drops the oldest. */
	t0 = now_s();
	c0 = cpu_s();
	for (i = 0; i < 100; i++)
		if (outbox_add(st, &full, OUTBOX_REPORT, body, sizeof(body),
			       NULL, NULL, NULL))
			failed++;
	c1 = cpu_s();
	t1 = now_s();
	outbox_stats(st, &s);
	ok(!failed && s.depth == 1000 && s.dropped[OUTBOX_REPORT] == 100,
	   "100 adds to a full outbox dropped 100 reports");
	tap_diag("outbox_add of a 2 KiB report to a full outbox of 1000: "
		 "%.1f us wall, %.1f us CPU per add (100 adds, each scanning "
		 "and dropping one)", (t1 - t0) * 1e6 / 100,
		 (c1 - c0) * 1e6 / 100);
	store_free(st);
}

int main(void)
{
	test_order();
	test_item_bound();
	test_byte_bound();
	test_dead_letters();
	test_unreadable();
	test_crash();
	test_cost();
	return tap_done();
}
