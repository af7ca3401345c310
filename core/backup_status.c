/*
 * backup_status.c - per-app backup status (newest snapshot, newest
 * verified snapshot, last drill, last failure), kept in the backup
 * store's "status" table as "key value" lines, readable without the key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backup_int.h"
#include "error.h"
#include "store.h"
#include "strbuf.h"
#include "banned.h"

static void parse_line(struct backup_status *s, const char *k, const char *v)
{
	if (!strcmp(k, "snapshot_id"))
		s->snapshot_id = strtoull(v, NULL, 10);
	else if (!strcmp(k, "snapshot_time"))
		s->snapshot_time = strtoll(v, NULL, 10);
	else if (!strcmp(k, "verified_time"))
		s->verified_time = strtoll(v, NULL, 10);
	else if (!strcmp(k, "drill_time"))
		s->drill_time = strtoll(v, NULL, 10);
	else if (!strcmp(k, "drill_seconds"))
		s->drill_seconds = strtod(v, NULL);
	else if (!strcmp(k, "drill_snapshot"))
		s->drill_snapshot = strtoull(v, NULL, 10);
	else if (!strcmp(k, "drill_ok"))
		s->drill_ok = !strcmp(v, "1");
	else if (!strcmp(k, "error_time"))
		s->error_time = strtoll(v, NULL, 10);
	else if (!strcmp(k, "error"))
		snprintf(s->error, sizeof(s->error), "%s", v);
	/* Unknown keys: from a newer furrow; ignored. */
}

static void parse(struct backup_status *s, const char *buf, size_t len)
{
	struct strbuf line = STRBUF_INIT;
	size_t i = 0, j;

	while (i < len) {
		for (j = i; j < len && buf[j] != '\n'; j++)
			;
		strbuf_reset(&line);
		strbuf_add(&line, buf + i, j - i);
		{
			char *sp = strchr(line.buf, ' ');

			if (sp) {
				*sp = '\0';
				parse_line(s, line.buf, sp + 1);
			}
		}
		i = j + 1;
	}
	strbuf_release(&line);
}

struct get_arg {
	const char *app;
	struct backup_status *s;
};

static int get_fn(struct store_txn *t, void *arg)
{
	struct get_arg *a = arg;
	const void *v;
	size_t n;
	int ret = store_get(t, "status", a->app, strlen(a->app), &v, &n);

	if (ret == FURROW_ENOENT)
		return 0;
	if (!ret)
		parse(a->s, v, n);
	return ret;
}

int status_load(struct store *st, const char *app, struct backup_status *s)
{
	struct get_arg a = { app, s };

	memset(s, 0, sizeof(*s));
	return store_view(st, get_fn, &a);
}

int status_save(struct store *st, const char *app,
		const struct backup_status *s)
{
	struct strbuf b = STRBUF_INIT;
	size_t i;
	int ret;

	strbuf_addf(&b, "snapshot_id %llu\nsnapshot_time %lld\n"
		    "verified_time %lld\ndrill_time %lld\ndrill_seconds %.3f\n"
		    "drill_snapshot %llu\ndrill_ok %d\nerror_time %lld\n",
		    (unsigned long long)s->snapshot_id, s->snapshot_time,
		    s->verified_time, s->drill_time, s->drill_seconds,
		    (unsigned long long)s->drill_snapshot, s->drill_ok,
		    s->error_time);
	strbuf_addstr(&b, "error ");
	for (i = 0; s->error[i]; i++)
		strbuf_addch(&b, s->error[i] == '\n' ? ' ' : s->error[i]);
	strbuf_addch(&b, '\n');
	ret = store_put1(st, "status", app, strlen(app), b.buf, b.len);
	strbuf_release(&b);
	return ret;
}

int backup_status_get(struct backup_store *bs, const char *app,
		      struct backup_status *s)
{
	return status_load(bs->st, app, s);
}

int backup_status_peek(const char *state_dir, const char *app,
		       struct backup_status *s)
{
	struct store_options o = { STORE_READ_ONLY, 0, 0, STORE_KIND_BACKUP };
	struct store *st;
	int ret;

	memset(s, 0, sizeof(*s));
	ret = store_open(&st, state_dir, &o);
	if (ret == FURROW_ENOENT) {
		error_clear();
		return 0;
	}
	if (ret)
		return ret;
	ret = status_load(st, app, s);
	store_free(st);
	return ret;
}

void backup_note_error(struct backup_store *bs, const char *app,
		       const char *msg)
{
	struct backup_status s;

	if (!bs || !bs->writable || status_load(bs->st, app, &s))
		return;
	s.error_time = (long long)time(NULL);
	snprintf(s.error, sizeof(s.error), "%s", msg);
	(void)status_save(bs->st, app, &s);
}

struct all_arg {
	struct backup_status_entry *v;
	size_t n;
};

static int all_one(const void *key, size_t klen, const void *val, size_t vlen,
		   void *arg)
{
	struct all_arg *a = arg;
	struct backup_status_entry *e;

	if (klen >= sizeof(e->app))
		return 0;
	a->v = realloc(a->v, (a->n + 1) * sizeof(*a->v));
	e = &a->v[a->n++];
	memset(e, 0, sizeof(*e));
	memcpy(e->app, key, klen);
	parse(&e->s, val, vlen);
	return 0;
}

static int all_fn(struct store_txn *t, void *arg)
{
	return store_foreach(t, "status", NULL, 0, all_one, arg);
}

int backup_status_all(const char *state_dir, struct backup_status_entry **out,
		      size_t *n)
{
	struct store_options o = { STORE_READ_ONLY, 0, 0, STORE_KIND_BACKUP };
	struct all_arg a = { NULL, 0 };
	struct store *st;
	int ret;

	*out = NULL;
	*n = 0;
	ret = store_open(&st, state_dir, &o);
	if (ret == FURROW_ENOENT) {
		error_clear();
		return 0;
	}
	if (ret)
		return ret;
	ret = store_view(st, all_fn, &a);
	store_free(st);
	if (ret) {
		free(a.v);
		return ret;
	}
	*out = a.v;
	*n = a.n;
	return 0;
}
