/*
 * report.c - reports and events as JSON documents into the outbox (see
 * report.h and README "Reports").
 *
 * A document is built as a value tree (sorted keys), printed compact,
 * and its sequence number and idempotency key are spliced in front when
 * the outbox hands out the number, inside its transaction: the document
 * itself is read from the store before that transaction, since a read
 * cannot nest in a write.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apply.h"
#include "apply_state.h"
#include "build_rev.h"
#include "config.h"
#include "error.h"
#include "journal.h"
#include "log.h"
#include "outbox.h"
#include "report.h"
#include "store.h"
#include "strbuf.h"
#include "sync.h"
#include "value.h"
#include "banned.h"

#ifndef FURROW_VERSION
#define FURROW_VERSION "0.0.0"
#endif

#define RECENT_HISTORY 20

void report_limits(const struct config *cfg, struct outbox_limits *lim)
{
	lim->max_items = (size_t)cfg->report.outbox_max_items;
	lim->max_bytes = (size_t)cfg->report.outbox_max_bytes;
}

struct splice {
	const char *instance;
	const struct strbuf *rest;   /* the object's members, no braces */
};

static void splice_body(struct strbuf *body, uint64_t seq, void *arg)
{
	const struct splice *s = arg;

	strbuf_addf(body, "{\"idempotency_key\":\"%s-%llu\",\"seq\":%llu,",
		    s->instance, (unsigned long long)seq,
		    (unsigned long long)seq);
	strbuf_add(body, s->rest->buf, s->rest->len);
	strbuf_addch(body, '}');
}

/* The members of doc (a table) as JSON without the outer braces. */
static void members(struct strbuf *out, const struct value *doc)
{
	struct strbuf sb = STRBUF_INIT;

	value_to_json(&sb, doc, 0);
	/* value_to_json of a non-empty table is "{...}". */
	if (sb.len >= 2)
		strbuf_add(out, sb.buf + 1, sb.len - 2);
	strbuf_release(&sb);
}

static int enqueue(const struct config *cfg, struct store *st,
		   enum outbox_kind kind, struct value *doc)
{
	struct strbuf rest = STRBUF_INIT, inst = STRBUF_INIT;
	struct outbox_limits lim;
	struct splice sp;
	int ret;

	value_put_int(doc, "schema", REPORT_SCHEMA);
	value_put_str(doc, "kind", outbox_kind_name(kind));
	value_put_int(doc, "time", (long long)time(NULL));
	value_sort(doc);
	members(&rest, doc);
	if (store_get_copy(st, "meta", "instance_id", 11, &inst)) {
		error_clear();
		strbuf_addstr(&inst, "unknown");
	}
	sp.instance = inst.buf;
	sp.rest = &rest;
	report_limits(cfg, &lim);
	ret = outbox_add(st, &lim, kind, NULL, 0, splice_body, &sp, NULL);
	strbuf_release(&rest);
	strbuf_release(&inst);
	return ret;
}

static void put_host(struct value *doc, const struct config *cfg)
{
	struct value *h = value_put(doc, "host"), *l;

	h->type = VALUE_TABLE;
	value_put_str(h, "id", cfg->host_id);
	l = value_put(h, "labels");
	l->type = VALUE_TABLE;
	for (size_t i = 0; i < cfg->label_count; i++)
		value_put_str(l, cfg->labels[i].key, cfg->labels[i].value);
	value_sort(l);
	if (!cfg->label_count)
		value_clear(l);   /* null, not an ambiguous empty table */
	value_sort(h);
}

static void put_str_or_nil(struct value *t, const char *key, const char *s)
{
	if (s)
		value_put_str(t, key, s);
	else
		value_put(t, key);   /* nil: JSON null */
}

static void put_accepted(struct value *doc, const struct sync_state *s,
			 long long now)
{
	struct value *a = value_put(doc, "accepted");

	if (!s->accepted[0])
		return;              /* null: nothing accepted yet */
	a->type = VALUE_TABLE;
	value_put_str(a, "commit", s->accepted);
	if (s->has_serial)
		value_put_int(a, "serial", s->accepted_serial);
	put_str_or_nil(a, "signer", s->signer);
	value_put_int(a, "commit_age_seconds", now - s->accepted_commit_time);
	if (s->fetch_ok_at)
		value_put_int(a, "last_fetch_age_seconds", now - s->fetch_ok_at);
	else
		value_put(a, "last_fetch_age_seconds");
	value_sort(a);
}

static int recent_fn(const struct history_entry *e, void *arg)
{
	struct value *list = arg;
	struct value *h = value_table_add_int(list,
					      (long long)list->u.table.count + 1);

	h->type = VALUE_TABLE;
	value_put_int(h, "seq", (long long)e->seq);
	value_put_int(h, "time", e->time);
	value_put_str(h, "app", e->app);
	value_put_str(h, "event", e->event);
	value_put_str(h, "from", e->from_slot);
	value_put_str(h, "to", e->to_slot);
	value_put_str(h, "commit", e->commit);
	value_put_str(h, "reason", e->reason);
	value_sort(h);
	return 0;
}

static void put_outbox(struct value *doc, struct store *st)
{
	struct outbox_stats os;
	struct value *o = value_put(doc, "outbox"), *d;

	if (outbox_stats(st, &os)) {
		error_clear();
		return;
	}
	o->type = VALUE_TABLE;
	value_put_int(o, "depth", (long long)os.depth);
	value_put_int(o, "dead_letters", (long long)os.dead);
	d = value_put(o, "dropped");
	d->type = VALUE_TABLE;
	for (int k = 0; k < OUTBOX_NKINDS; k++)
		value_put_int(d, outbox_kind_name((enum outbox_kind)k),
			      (long long)os.dropped[k]);
	value_sort(d);
	value_sort(o);
}

/* "apps_summary": { total, healthy, held }. */
static void put_summary(struct value *doc, const struct value *apps)
{
	struct value *s = value_put(doc, "apps_summary");
	long long healthy = 0, held = 0;

	for (size_t i = 0; i < apps->u.table.count; i++) {
		const struct value *a = &apps->u.table.entries[i].val;
		const struct value *h = value_get(a, "health");

		healthy += h && h->type == VALUE_STRING &&
			   !strcmp(h->u.string.ptr, "healthy");
		held += value_get(a, "held") != NULL;
	}
	s->type = VALUE_TABLE;
	value_put_int(s, "total", (long long)apps->u.table.count);
	value_put_int(s, "healthy", healthy);
	value_put_int(s, "held", held);
	value_sort(s);
}

int report_enqueue(const struct config *cfg, struct store *st,
		   enum outbox_kind kind)
{
	struct value *doc = value_new(VALUE_TABLE), *status = NULL, *recent;
	long long now = (long long)time(NULL);
	struct sync_state s;
	int ret;

	memset(&s, 0, sizeof(s));
	if ((ret = sync_state_load(&s, st, cfg->state_dir)) ||
	    (ret = apply_status(&status, cfg, st)))
		goto out;
	put_host(doc, cfg);
	{
		struct value *f = value_put(doc, "furrow");

		f->type = VALUE_TABLE;
		value_put_str(f, "version", FURROW_VERSION);
		value_put_str(f, "revision", FURROW_GIT_REV);
		value_sort(f);
	}
	put_accepted(doc, &s, now);
	put_str_or_nil(doc, "fetch_error", s.fetch_error);
	put_str_or_nil(doc, "verify_error", s.verify_error);
	if (value_get(status, "last_pass"))
		value_copy_into(value_put(doc, "last_pass"),
				value_get(status, "last_pass"));
	else
		value_put(doc, "last_pass");
	put_summary(doc, value_get(status, "apps"));
	/* A heartbeat says the host is alive and where it stands; the
	 * per-app detail goes out with reports, after every change.  Kept
	 * small on purpose: one a second must not churn the store. */
	if (kind == OUTBOX_HEARTBEAT)
		goto send;
	/* An empty table would print as {}: empty lists are left out. */
	if (value_get(status, "apps")->u.table.count)
		value_copy_into(value_put(doc, "apps"),
				value_get(status, "apps"));
	recent = value_new(VALUE_TABLE);
	if (history_list(st, NULL, RECENT_HISTORY, recent_fn, recent))
		error_clear();
	if (recent->u.table.count)
		value_copy_into(value_put(doc, "recent"), recent);
	value_free(recent);
send:
	put_outbox(doc, st);
	ret = enqueue(cfg, st, kind, doc);
out:
	sync_state_release(&s);
	value_free(status);
	value_free(doc);
	return ret;
}

void report_event(const struct config *cfg, struct store *st,
		  const char *name, const char *app, const char *commit,
		  const char *message)
{
	struct value *doc = value_new(VALUE_TABLE), *h;

	h = value_put(doc, "host");
	h->type = VALUE_TABLE;
	value_put_str(h, "id", cfg->host_id);
	value_put_str(doc, "event", name);
	put_str_or_nil(doc, "app", app);
	put_str_or_nil(doc, "commit", commit && *commit ? commit : NULL);
	put_str_or_nil(doc, "message", message && *message ? message : NULL);
	if (enqueue(cfg, st, OUTBOX_EVENT, doc)) {
		log_event(LOG_WARN, "report.event_lost", error_message(),
			  "event", name, "app", app ? app : "", NULL);
		error_clear();
	}
	value_free(doc);
}
