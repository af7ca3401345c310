/*
 * journal.c - the apply intent journal and history (see journal.h).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bug.h"
#include "error.h"
#include "fault.h"
#include "journal.h"
#include "json.h"
#include "limits.h"
#include "store.h"
#include "strbuf.h"
#include "value.h"
#include "banned.h"

#define JOURNAL_TABLE "journal"
#define HISTORY_TABLE "history"
#define SEQ_BYTES 8

static const char *const op_names[] = { "update", "rollback", "remove" };
#define NOPS (sizeof(op_names) / sizeof(op_names[0]))

static const char *const step_names[JOURNAL_NSTEPS] = {
	"stage", "start", "health", "switch", "confirm", "stop-old", "prune",
};

const char *journal_op_name(enum journal_op op)
{
	if ((unsigned)op >= NOPS)
		BUG("bad journal op %d", (int)op);
	return op_names[op];
}

const char *journal_step_name(enum journal_step step)
{
	if ((unsigned)step >= JOURNAL_NSTEPS)
		BUG("bad journal step %d", (int)step);
	return step_names[step];
}

int journal_step_parse(const char *name)
{
	int i;

	for (i = 0; i < JOURNAL_NSTEPS; i++)
		if (!strcmp(step_names[i], name))
			return i;
	return JOURNAL_NO_STEP;
}

static int op_parse(const char *name)
{
	size_t i;

	for (i = 0; i < NOPS; i++)
		if (!strcmp(op_names[i], name))
			return (int)i;
	return -1;
}

/* ---- checks ------------------------------------------------------------ */

static int is_hex(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* "" or exactly n lowercase hex digits. */
static int hex_or_empty(const char *s, size_t n)
{
	size_t len = strlen(s);

	return len == 0 || (len == n && is_hex(s, n));
}

static int slot_ok(const char *s, int may_be_empty)
{
	return (may_be_empty && !s[0]) ||
	       ((s[0] == 'a' || s[0] == 'b') && !s[1]);
}

static int check_app(const char *app)
{
	size_t len = app ? strlen(app) : 0;

	if (len == 0)
		return error_set(FURROW_EINVAL, "journal: empty app name");
	if (len > LIMIT_STORE_KEY_BYTES)
		return error_set(FURROW_ELIMIT, "journal: an app name of %zu "
				 "bytes is over LIMIT_STORE_KEY_BYTES (%d)", len,
				 LIMIT_STORE_KEY_BYTES);
	return 0;
}

static int check_intent(const char *app, const struct journal_intent *in)
{
	if ((unsigned)in->op >= NOPS)
		return error_set(FURROW_EINVAL, "journal: app %s: bad op %d",
				 app, (int)in->op);
	if (!in->from_slot || !in->to_slot || !in->commit ||
	    !in->spec_sha256 || !in->plan_sha256)
		BUG("journal intent with a NULL string");
	if (!slot_ok(in->from_slot, 1) ||
	    !slot_ok(in->to_slot, in->op == JOURNAL_OP_REMOVE))
		return error_set(FURROW_EINVAL, "journal: app %s: bad slots "
				 "\"%s\" -> \"%s\"", app, in->from_slot,
				 in->to_slot);
	if (!hex_or_empty(in->commit, 40) || !hex_or_empty(in->spec_sha256, 64) ||
	    !hex_or_empty(in->plan_sha256, 64))
		return error_set(FURROW_EINVAL, "journal: app %s: commit must "
				 "be 40 hex, hashes 64 hex (or empty)", app);
	return 0;
}

/* ---- record encoding ---------------------------------------------------- */

static void add_key_str(struct strbuf *sb, const char *key, const char *s)
{
	strbuf_addf(sb, "\"%s\":", key);
	strbuf_add_json_string(sb, s, strlen(s));
}

static void record_encode(struct strbuf *sb, const struct journal_record *r)
{
	int i, first = 1;

	strbuf_reset(sb);
	strbuf_addch(sb, '{');
	add_key_str(sb, "op", journal_op_name(r->op));
	strbuf_addch(sb, ',');
	add_key_str(sb, "from", r->from_slot);
	strbuf_addch(sb, ',');
	add_key_str(sb, "to", r->to_slot);
	strbuf_addch(sb, ',');
	add_key_str(sb, "commit", r->commit);
	strbuf_addch(sb, ',');
	add_key_str(sb, "spec_sha256", r->spec_sha256);
	strbuf_addch(sb, ',');
	add_key_str(sb, "plan_sha256", r->plan_sha256);
	strbuf_addf(sb, ",\"started\":%lld,\"done\":[", r->started);
	for (i = 0; i < JOURNAL_NSTEPS; i++) {
		if (!(r->done & (1u << i)))
			continue;
		strbuf_addf(sb, "%s\"%s\"", first ? "" : ",", step_names[i]);
		first = 0;
	}
	strbuf_addstr(sb, "],\"doing\":");
	if (r->doing == JOURNAL_NO_STEP)
		strbuf_addstr(sb, "null");
	else
		strbuf_addf(sb, "\"%s\"", journal_step_name(r->doing));
	strbuf_addch(sb, '}');
}

/* Copy string field key of t into out[size]; 0 or -1 if absent, not a
 * string, too long or holding a NUL. */
static int get_str(const struct value *t, const char *key, char *out,
		   size_t size)
{
	const struct value *v = value_get(t, key);

	if (!v || v->type != VALUE_STRING || v->u.string.len >= size ||
	    strlen(v->u.string.ptr) != v->u.string.len)
		return -1;
	memcpy(out, v->u.string.ptr, v->u.string.len + 1);
	return 0;
}

static int record_decode(struct journal_record *r, const char *app,
			 size_t applen, const void *val, size_t vlen)
{
	struct value *v = NULL;
	const struct value *x, *done;
	char buf[16];
	size_t i;
	int ret, n;

	memset(r, 0, sizeof(*r));
	if (applen >= sizeof(r->app))
		BUG("journal key of %zu bytes", applen);
	memcpy(r->app, app, applen);
	r->app[applen] = '\0';
	ret = json_parse(&v, "journal record", val, vlen,
			 LIMIT_JOURNAL_RECORD_BYTES);
	if (ret)
		return error_prefix(ret, "journal: app %s", r->app);
	ret = FURROW_ESYNTAX;
	if (v->type != VALUE_TABLE || get_str(v, "op", buf, sizeof(buf)) ||
	    (n = op_parse(buf)) < 0)
		goto bad;
	r->op = (enum journal_op)n;
	if (get_str(v, "from", r->from_slot, sizeof(r->from_slot)) ||
	    get_str(v, "to", r->to_slot, sizeof(r->to_slot)) ||
	    get_str(v, "commit", r->commit, sizeof(r->commit)) ||
	    get_str(v, "spec_sha256", r->spec_sha256, sizeof(r->spec_sha256)) ||
	    get_str(v, "plan_sha256", r->plan_sha256, sizeof(r->plan_sha256)))
		goto bad;
	x = value_get(v, "started");
	if (!x || x->type != VALUE_INTEGER)
		goto bad;
	r->started = x->u.integer;
	done = value_get(v, "done");
	if (!done || done->type != VALUE_TABLE || !value_is_array(done))
		goto bad;
	for (i = 0; i < done->u.table.count; i++) {
		x = &done->u.table.entries[i].val;
		if (x->type != VALUE_STRING ||
		    (n = journal_step_parse(x->u.string.ptr)) < 0)
			goto bad;
		r->done |= 1u << n;
	}
	x = value_get(v, "doing");
	r->doing = JOURNAL_NO_STEP;
	if (x && x->type == VALUE_STRING) {
		if ((r->doing = journal_step_parse(x->u.string.ptr)) < 0)
			goto bad;
	} else if (x && x->type != VALUE_NIL) {
		goto bad;
	}
	ret = 0;
bad:
	if (ret)
		error_set(ret, "journal: the record of app %s is malformed",
			  r->app);
	value_free(v);
	return ret;
}

/* ---- history encoding --------------------------------------------------- */

static int history_check(const struct history_entry *e)
{
	int ret;

	if (!e->app || !e->event || !e->from_slot || !e->to_slot ||
	    !e->commit || !e->reason)
		BUG("history entry with a NULL string");
	if ((ret = check_app(e->app)))
		return ret;
	if (!e->event[0] || strlen(e->event) > 64)
		return error_set(FURROW_EINVAL, "history: app %s: event must "
				 "be 1..64 bytes", e->app);
	if (!slot_ok(e->from_slot, 1) || !slot_ok(e->to_slot, 1) ||
	    !hex_or_empty(e->commit, 40))
		return error_set(FURROW_EINVAL, "history: app %s: bad slots or "
				 "commit", e->app);
	if (strlen(e->reason) > LIMIT_HISTORY_REASON_BYTES)
		return error_set(FURROW_ELIMIT, "history: app %s: a reason of "
				 "%zu bytes is over LIMIT_HISTORY_REASON_BYTES "
				 "(%d)", e->app, strlen(e->reason),
				 LIMIT_HISTORY_REASON_BYTES);
	return 0;
}

static void history_encode(struct strbuf *sb, const struct history_entry *e)
{
	strbuf_reset(sb);
	strbuf_addf(sb, "{\"time\":%lld,", e->time);
	add_key_str(sb, "app", e->app);
	strbuf_addch(sb, ',');
	add_key_str(sb, "event", e->event);
	strbuf_addch(sb, ',');
	add_key_str(sb, "from", e->from_slot);
	strbuf_addch(sb, ',');
	add_key_str(sb, "to", e->to_slot);
	strbuf_addch(sb, ',');
	add_key_str(sb, "commit", e->commit);
	strbuf_addch(sb, ',');
	add_key_str(sb, "reason", e->reason);
	strbuf_addch(sb, '}');
}

static void seq_key(unsigned char key[SEQ_BYTES], uint64_t seq)
{
	int i;

	for (i = SEQ_BYTES - 1; i >= 0; i--) {
		key[i] = (unsigned char)(seq & 0xff);
		seq >>= 8;
	}
}

static uint64_t seq_of(const unsigned char *key)
{
	uint64_t seq = 0;
	int i;

	for (i = 0; i < SEQ_BYTES; i++)
		seq = seq << 8 | key[i];
	return seq;
}

struct last_seq {
	uint64_t seq;
	int bad;
};

static int last_seq_fn(const void *key, size_t klen, const void *val,
		       size_t vlen, void *arg)
{
	struct last_seq *l = arg;

	(void)val;
	(void)vlen;
	if (klen != SEQ_BYTES)
		l->bad = 1;
	else
		l->seq = seq_of(key);
	return 1;
}

/* Append e inside transaction t, numbering it one past the last entry. */
static int history_put(struct store_txn *t, const struct history_entry *e)
{
	struct strbuf sb = STRBUF_INIT;
	struct last_seq l = { 0, 0 };
	unsigned char key[SEQ_BYTES];
	int ret;

	ret = store_foreach_rev(t, HISTORY_TABLE, last_seq_fn, &l);
	if (ret < 0)
		return ret;
	if (l.bad)
		return error_set(FURROW_ESYNTAX, "history: the last key is not "
				 "a %d-byte sequence number", SEQ_BYTES);
	if (l.seq == UINT64_MAX)
		return error_set(FURROW_ELIMIT, "history: sequence exhausted");
	history_encode(&sb, e);
	if (sb.len > LIMIT_HISTORY_ENTRY_BYTES) {
		ret = error_set(FURROW_ELIMIT, "history: app %s: an entry of "
				"%zu bytes is over LIMIT_HISTORY_ENTRY_BYTES "
				"(%u)", e->app, sb.len,
				LIMIT_HISTORY_ENTRY_BYTES);
		goto out;
	}
	seq_key(key, l.seq + 1);
	ret = store_put(t, HISTORY_TABLE, key, sizeof(key), sb.buf, sb.len);
	/* Bounded: the entry LIMIT_HISTORY_KEEP back goes as this one
	 * comes (one delete per append keeps the table at the cap). */
	if (!ret && l.seq + 1 > LIMIT_HISTORY_KEEP) {
		seq_key(key, l.seq + 1 - LIMIT_HISTORY_KEEP);
		ret = store_del(t, HISTORY_TABLE, key, sizeof(key));
		if (ret == FURROW_ENOENT)
			ret = 0;
	}
out:
	strbuf_release(&sb);
	return ret;
}

/* ---- journal transactions ----------------------------------------------- */

enum job_kind { JOB_BEGIN, JOB_START, JOB_DONE, JOB_FINISH };

struct job {
	enum job_kind kind;
	const char *app;
	const struct journal_intent *in;
	enum journal_step step;
	enum journal_outcome outcome;
	const char *reason;
	long long now;
};

static int job_load(struct store_txn *t, const char *app,
		    struct journal_record *r)
{
	const void *val;
	size_t vlen;
	int ret;

	ret = store_get(t, JOURNAL_TABLE, app, strlen(app), &val, &vlen);
	if (ret == FURROW_ENOENT)
		return error_set(FURROW_ENOENT, "journal: app %s has no "
				 "operation in flight", app);
	if (ret)
		return ret;
	return record_decode(r, app, strlen(app), val, vlen);
}

static int job_store(struct store_txn *t, const struct journal_record *r)
{
	struct strbuf sb = STRBUF_INIT;
	int ret;

	record_encode(&sb, r);
	ret = store_put(t, JOURNAL_TABLE, r->app, strlen(r->app), sb.buf,
			sb.len);
	strbuf_release(&sb);
	return ret;
}

static int job_txn(struct store_txn *t, void *arg)
{
	struct job *j = arg;
	struct journal_record r;
	struct history_entry h;
	const void *val;
	size_t vlen;
	char event[32];
	int ret;

	if (j->kind == JOB_BEGIN) {
		ret = store_get(t, JOURNAL_TABLE, j->app, strlen(j->app), &val,
				&vlen);
		if (ret == 0)
			return error_set(FURROW_EBUSY, "journal: app %s already "
					 "has an operation in flight", j->app);
		if (ret != FURROW_ENOENT)
			return ret;
		memset(&r, 0, sizeof(r));
		memcpy(r.app, j->app, strlen(j->app) + 1);
		r.op = j->in->op;
		memcpy(r.from_slot, j->in->from_slot, strlen(j->in->from_slot) + 1);
		memcpy(r.to_slot, j->in->to_slot, strlen(j->in->to_slot) + 1);
		memcpy(r.commit, j->in->commit, strlen(j->in->commit) + 1);
		memcpy(r.spec_sha256, j->in->spec_sha256,
		       strlen(j->in->spec_sha256) + 1);
		memcpy(r.plan_sha256, j->in->plan_sha256,
		       strlen(j->in->plan_sha256) + 1);
		r.started = j->now;
		r.doing = JOURNAL_NO_STEP;
		return job_store(t, &r);
	}
	if ((ret = job_load(t, j->app, &r)))
		return ret;
	switch (j->kind) {
	case JOB_START:
		r.doing = (int)j->step;
		return job_store(t, &r);
	case JOB_DONE:
		r.done |= 1u << j->step;
		if (r.doing == (int)j->step)
			r.doing = JOURNAL_NO_STEP;
		return job_store(t, &r);
	case JOB_FINISH:
		if ((ret = store_del(t, JOURNAL_TABLE, j->app, strlen(j->app))))
			return ret;
		snprintf(event, sizeof(event), "%s%s", journal_op_name(r.op),
			 j->outcome == JOURNAL_REVERTED ? "-reverted" : "");
		h.seq = 0;
		h.time = j->now;
		h.app = r.app;
		h.event = event;
		h.from_slot = r.from_slot;
		h.to_slot = r.to_slot;
		h.commit = r.commit;
		h.reason = j->reason ? j->reason : "";
		if ((ret = history_check(&h)))
			return ret;
		return history_put(t, &h);
	case JOB_BEGIN:
		break;
	}
	BUG("bad journal job %d", (int)j->kind);
}

int journal_begin(struct store *st, const char *app,
		  const struct journal_intent *in)
{
	struct job j = { JOB_BEGIN, app, in, JOURNAL_STAGE, JOURNAL_COMMITTED,
			 NULL, (long long)time(NULL) };
	int ret;

	if ((ret = check_app(app)) || (ret = check_intent(app, in)))
		return ret;
	return store_update(st, job_txn, &j);
}

static int journal_step(struct store *st, const char *app,
			enum journal_step step, enum job_kind kind)
{
	struct job j = { kind, app, NULL, step, JOURNAL_COMMITTED, NULL, 0 };
	char point[32];
	int ret;

	if ((unsigned)step >= JOURNAL_NSTEPS)
		BUG("bad journal step %d", (int)step);
	if ((ret = check_app(app)) || (ret = store_update(st, job_txn, &j)))
		return ret;
	snprintf(point, sizeof(point), "%s%s", step_names[step],
		 kind == JOB_DONE ? "-done" : "");
	fault_point(point);
	return 0;
}

int journal_step_start(struct store *st, const char *app,
		       enum journal_step step)
{
	return journal_step(st, app, step, JOB_START);
}

int journal_step_done(struct store *st, const char *app,
		      enum journal_step step)
{
	return journal_step(st, app, step, JOB_DONE);
}

int journal_finish(struct store *st, const char *app,
		   enum journal_outcome outcome, const char *reason)
{
	struct job j = { JOB_FINISH, app, NULL, JOURNAL_STAGE, outcome, reason,
			 (long long)time(NULL) };
	int ret;

	if (outcome != JOURNAL_COMMITTED && outcome != JOURNAL_REVERTED)
		BUG("bad journal outcome %d", (int)outcome);
	if ((ret = check_app(app)))
		return ret;
	return store_update(st, job_txn, &j);
}

/* ---- reading ------------------------------------------------------------ */

struct get_job {
	const char *app;
	struct journal_record *out;
};

static int get_txn(struct store_txn *t, void *arg)
{
	struct get_job *g = arg;
	const void *val;
	size_t vlen;
	int ret;

	ret = store_get(t, JOURNAL_TABLE, g->app, strlen(g->app), &val, &vlen);
	if (ret)
		return ret;
	return record_decode(g->out, g->app, strlen(g->app), val, vlen);
}

int journal_get(struct store *st, const char *app, struct journal_record *out)
{
	struct get_job g = { app, out };
	int ret;

	if ((ret = check_app(app)))
		return ret;
	return store_view(st, get_txn, &g);
}

struct pending {
	struct journal_record *recs;
	size_t count, alloc;
};

static int pending_each(const void *key, size_t klen, const void *val,
			size_t vlen, void *arg)
{
	struct pending *p = arg;

	if (p->count == p->alloc) {
		p->alloc = p->alloc ? 2 * p->alloc : 8;
		p->recs = xrealloc(p->recs, p->alloc * sizeof(*p->recs));
	}
	if (klen > LIMIT_STORE_KEY_BYTES)
		BUG("journal key of %zu bytes", klen);
	return record_decode(&p->recs[p->count++], key, klen, val, vlen);
}

static int pending_txn(struct store_txn *t, void *arg)
{
	return store_foreach(t, JOURNAL_TABLE, NULL, 0, pending_each, arg);
}

int journal_pending(struct store *st, journal_fn fn, void *arg)
{
	struct pending p = { NULL, 0, 0 };
	size_t i;
	int ret;

	ret = store_view(st, pending_txn, &p);
	for (i = 0; ret == 0 && i < p.count; i++)
		ret = fn(&p.recs[i], arg);
	free(p.recs);
	return ret;
}

enum journal_recovery journal_recovery_action(const struct journal_record *rec)
{
	return rec->done & (1u << JOURNAL_SWITCH) ? JOURNAL_ROLL_FORWARD
						  : JOURNAL_ROLL_BACK;
}

/* ---- history ------------------------------------------------------------ */

static int append_txn(struct store_txn *t, void *arg)
{
	return history_put(t, arg);
}

int history_append(struct store *st, const struct history_entry *e)
{
	int ret;

	if ((ret = history_check(e)))
		return ret;
	return store_update(st, append_txn, (void *)e);
}

struct list_job {
	const char *app;
	unsigned max, found;
	unsigned long scanned;
	history_fn fn;
	void *arg;
	int stopped;       /* our own stop, not fn's */
};

static const char *str_or_empty(const struct value *t, const char *key)
{
	const struct value *v = value_get(t, key);

	return v && v->type == VALUE_STRING ? v->u.string.ptr : NULL;
}

static int list_each(const void *key, size_t klen, const void *val,
		     size_t vlen, void *arg)
{
	struct list_job *l = arg;
	struct history_entry e;
	struct value *v = NULL;
	const struct value *tm;
	int ret = 0;

	if (++l->scanned > LIMIT_HISTORY_SCAN) {
		l->stopped = 1;
		return 1;
	}
	if (klen != SEQ_BYTES ||
	    json_parse(&v, "history entry", val, vlen,
		       LIMIT_HISTORY_ENTRY_BYTES)) {
		error_clear();
		return 0;
	}
	tm = value_get(v, "time");
	e.seq = seq_of(key);
	e.app = str_or_empty(v, "app");
	e.event = str_or_empty(v, "event");
	e.from_slot = str_or_empty(v, "from");
	e.to_slot = str_or_empty(v, "to");
	e.commit = str_or_empty(v, "commit");
	e.reason = str_or_empty(v, "reason");
	if (!tm || tm->type != VALUE_INTEGER || !e.app || !e.event ||
	    !e.from_slot || !e.to_slot || !e.commit || !e.reason)
		goto out;
	e.time = tm->u.integer;
	if (l->app && strcmp(l->app, e.app) != 0)
		goto out;
	if ((ret = l->fn(&e, l->arg)))
		goto out;
	if (++l->found >= l->max) {
		l->stopped = 1;
		ret = 1;
	}
out:
	value_free(v);
	return ret;
}

static int list_txn(struct store_txn *t, void *arg)
{
	struct list_job *l = arg;
	int ret = store_foreach_rev(t, HISTORY_TABLE, list_each, l);

	return l->stopped && ret == 1 ? 0 : ret;
}

int history_list(struct store *st, const char *app, unsigned max,
		 history_fn fn, void *arg)
{
	struct list_job l = { app, max, 0, 0, fn, arg, 0 };

	if (l.max == 0 || l.max > LIMIT_HISTORY_LIST)
		l.max = LIMIT_HISTORY_LIST;
	return store_view(st, list_txn, &l);
}
