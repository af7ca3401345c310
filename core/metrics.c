/*
 * metrics.c - Prometheus textfile output (see metrics.h).
 *
 * Counters that must survive the process (a `furrow apply` is a process
 * per pass) live in one JSON record in the store; everything else is
 * read at render time from what status reads.
 */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "apply.h"
#include "bug.h"
#include "build_rev.h"
#include "config.h"
#include "error.h"
#include "fileutil.h"
#include "json.h"
#include "limits.h"
#include "log.h"
#include "metrics.h"
#include "store.h"
#include "strbuf.h"
#include "sync.h"
#include "value.h"
#include "banned.h"

#define TABLE "runtime"
/* No app name starts with '/' (apply_state.h), so this never collides. */
#define KEY "/metrics"

#ifndef FURROW_VERSION
#define FURROW_VERSION "unknown"
#endif

/* outbox_kind_name() lives in outbox.c; the names are part of this
 * file's output format, so they are spelled here. */
static const char *const outbox_kinds[] = { "heartbeat", "report", "event" };
_Static_assert(sizeof(outbox_kinds) / sizeof(outbox_kinds[0]) == OUTBOX_NKINDS,
	       "one name per outbox kind");

/* ---- the persistent counters ------------------------------------------- */

struct app_count {
	char *app;
	long long rollbacks;
};

struct counters {
	long long passes;
	long long failures;
	long long fetch_failures;
	long long verify_failures;
	long long rollbacks;      /* all apps, ever (kept, not exposed) */
	long long drift_repairs;  /* outcome repaired, all apps, ever (ditto) */
	long long last_success;   /* epoch; 0 never */
	int has_last;
	double last_seconds;
	long long last_exit;
	struct app_count *apps;   /* sorted by name */
	size_t count, alloc;
};

static void counters_release(struct counters *c)
{
	for (size_t i = 0; i < c->count; i++)
		free(c->apps[i].app);
	free(c->apps);
	memset(c, 0, sizeof(*c));
}

static long long get_int(const struct value *t, const char *key)
{
	const struct value *v = value_get(t, key);

	if (v && v->type == VALUE_INTEGER)
		return v->u.integer;
	if (v && v->type == VALUE_NUMBER && isfinite(v->u.number))
		return (long long)v->u.number;
	return 0;
}

static double get_num(const struct value *t, const char *key)
{
	const struct value *v = value_get(t, key);

	if (v && v->type == VALUE_INTEGER)
		return (double)v->u.integer;
	if (v && v->type == VALUE_NUMBER && isfinite(v->u.number))
		return v->u.number;
	return 0;
}

/* The entry for app, added (in name order) if missing. */
static struct app_count *app_slot(struct counters *c, const char *app)
{
	size_t lo = 0, hi = c->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int cmp = strcmp(c->apps[mid].app, app);

		if (!cmp)
			return &c->apps[mid];
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (c->count == c->alloc) {
		c->alloc = c->alloc ? 2 * c->alloc : 8;
		c->apps = xrealloc(c->apps, c->alloc * sizeof(*c->apps));
	}
	memmove(&c->apps[lo + 1], &c->apps[lo],
		(c->count - lo) * sizeof(*c->apps));
	c->count++;
	c->apps[lo].app = xstrdup(app);
	c->apps[lo].rollbacks = 0;
	return &c->apps[lo];
}

static void decode(struct counters *c, const struct value *t)
{
	const struct value *apps = value_get(t, "rollbacks");

	c->passes = get_int(t, "passes_total");
	c->failures = get_int(t, "pass_failures_total");
	c->fetch_failures = get_int(t, "fetch_failures_total");
	c->verify_failures = get_int(t, "verify_failures_total");
	c->rollbacks = get_int(t, "rollbacks_total");
	c->drift_repairs = get_int(t, "drift_repairs_total");
	c->last_success = get_int(t, "last_success_time");
	c->has_last = value_get(t, "last_pass_seconds") != NULL;
	c->last_seconds = get_num(t, "last_pass_seconds");
	c->last_exit = get_int(t, "last_exit");
	if (!apps || apps->type != VALUE_TABLE)
		return;
	for (size_t i = 0; i < apps->u.table.count; i++) {
		const struct value_entry *e = &apps->u.table.entries[i];

		if (e->key.type != VALUE_STRING || e->val.type != VALUE_INTEGER)
			continue;
		app_slot(c, e->key.u.string.ptr)->rollbacks = e->val.u.integer;
	}
}

static void encode(struct strbuf *sb, const struct counters *c)
{
	struct value *t = value_new(VALUE_TABLE), *apps;

	value_put_int(t, "passes_total", c->passes);
	value_put_int(t, "pass_failures_total", c->failures);
	value_put_int(t, "fetch_failures_total", c->fetch_failures);
	value_put_int(t, "verify_failures_total", c->verify_failures);
	value_put_int(t, "rollbacks_total", c->rollbacks);
	value_put_int(t, "drift_repairs_total", c->drift_repairs);
	value_put_int(t, "last_success_time", c->last_success);
	if (c->has_last) {
		struct value *s = value_put(t, "last_pass_seconds");

		s->type = VALUE_NUMBER;
		s->u.number = c->last_seconds;
		value_put_int(t, "last_exit", c->last_exit);
	}
	/* Never empty: an empty table would print as [] (value_to_json). */
	if (c->count) {
		apps = value_put(t, "rollbacks");
		apps->type = VALUE_TABLE;
		for (size_t i = 0; i < c->count; i++)
			value_put_int(apps, c->apps[i].app, c->apps[i].rollbacks);
		value_sort(apps);
	}
	value_sort(t);
	value_to_json(sb, t, 0);
	value_free(t);
}

/* Read the record into c (zeroes if absent or unreadable). */
static int load(struct store_txn *txn, struct counters *c)
{
	struct value *v = NULL;
	const void *val;
	size_t vlen;
	int ret;

	counters_release(c);
	ret = store_get(txn, TABLE, KEY, strlen(KEY), &val, &vlen);
	if (ret == FURROW_ENOENT)
		return 0;
	if (ret)
		return ret;
	if (json_parse(&v, "metrics record", val, vlen,
		       LIMIT_STORE_VALUE_BYTES) || v->type != VALUE_TABLE) {
		log_event(LOG_WARN, "metrics.record_unreadable",
			  "unreadable metrics record: counters start again",
			  "error", error_message(), NULL);
		error_clear();
	} else {
		decode(c, v);
	}
	value_free(v);
	return 0;
}

struct record_job {
	const struct metrics_pass *p;
	long long now;
	struct counters c;
};

static int planned(const struct apply_result *r, const char *app)
{
	for (size_t i = 0; i < r->count; i++)
		if (!strcmp(r->apps[i].app, app))
			return r->apps[i].outcome != APPLY_REMOVED;
	return 0;
}

static int record_txn(struct store_txn *txn, void *arg)
{
	struct record_job *j = arg;
	const struct metrics_pass *p = j->p;
	const struct apply_result *r = p->result;
	struct counters *c = &j->c;
	struct strbuf sb = STRBUF_INIT;
	int ret;

	/* Read again on every run: store_update() may run this twice. */
	if ((ret = load(txn, c)))
		return ret;
	c->passes++;
	if (!p->ok)
		c->failures++;
	else
		c->last_success = j->now;
	c->has_last = 1;
	c->last_seconds = isfinite(p->seconds) && p->seconds > 0 ? p->seconds : 0;
	c->last_exit = !p->ok ? 1 : r ? apply_result_class(r) : 0;
	if (r && r->fetch_error)
		c->fetch_failures++;
	if (r && r->verify_error)
		c->verify_failures++;
	for (size_t i = 0; r && i < r->count; i++) {
		const struct apply_app *a = &r->apps[i];

		if (a->outcome == APPLY_ROLLED_BACK) {
			c->rollbacks++;
			app_slot(c, a->app)->rollbacks++;
		} else if (a->outcome == APPLY_REPAIRED) {
			c->drift_repairs++;
		}
	}
	/* A pass that ran planned every app there is: forget the ones it
	 * removed or no longer knows, so the record stays as small as the
	 * desired state. */
	if (p->ok && r) {
		size_t k = 0;

		for (size_t i = 0; i < c->count; i++) {
			if (planned(r, c->apps[i].app))
				c->apps[k++] = c->apps[i];
			else
				free(c->apps[i].app);
		}
		c->count = k;
	}
	encode(&sb, c);
	ret = store_put(txn, TABLE, KEY, strlen(KEY), sb.buf, sb.len);
	strbuf_release(&sb);
	return ret;
}

int metrics_record_pass(struct store *st, const struct metrics_pass *p)
{
	struct record_job j;
	int ret;

	memset(&j, 0, sizeof(j));
	j.p = p;
	j.now = p->now ? p->now : (long long)time(NULL);
	ret = store_update(st, record_txn, &j);
	counters_release(&j.c);
	if (ret)
		error_prefix(ret, "cannot record the pass for metrics");
	return ret;
}

static int view_txn(struct store_txn *txn, void *arg)
{
	return load(txn, arg);
}

/* ---- rendering --------------------------------------------------------- */

void metrics_escape_label(struct strbuf *sb, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			strbuf_addstr(sb, "\\\\");
		else if (*s == '"')
			strbuf_addstr(sb, "\\\"");
		else if (*s == '\n')
			strbuf_addstr(sb, "\\n");
		else
			strbuf_addch(sb, *s);
	}
}

static void family(struct strbuf *sb, const char *name, const char *type,
		   const char *help)
{
	strbuf_addf(sb, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{label="value"} (no labels when label is NULL); the caller adds
 * the value. */
static void series(struct strbuf *sb, const char *name, const char *label,
		   const char *value)
{
	strbuf_addstr(sb, name);
	if (label) {
		strbuf_addf(sb, "{%s=\"", label);
		metrics_escape_label(sb, value);
		strbuf_addstr(sb, "\"}");
	}
}

static void int_sample(struct strbuf *sb, const char *name, const char *label,
		       const char *value, long long n)
{
	series(sb, name, label, value);
	strbuf_addf(sb, " %lld\n", n);
}

/* Shortest text that reads back as d; the format's NaN and +Inf. */
static void add_float(struct strbuf *sb, double d)
{
	char buf[40];

	if (isnan(d)) {
		strbuf_addstr(sb, "NaN");
		return;
	}
	if (isinf(d)) {
		strbuf_addstr(sb, d > 0 ? "+Inf" : "-Inf");
		return;
	}
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	strbuf_addstr(sb, buf);
}

/* Resident set size from /proc/self/statm, or -1. */
static long long resident_bytes(void)
{
	char buf[128];
	long page = sysconf(_SC_PAGESIZE);
	unsigned long long size, rss;
	ssize_t n;
	int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0 || page <= 0)
		return -1;
	buf[n] = 0;
	if (sscanf(buf, "%llu %llu", &size, &rss) != 2)
		return -1;
	return (long long)(rss * (unsigned long long)page);
}

static const char *str_field(const struct value *t, const char *key)
{
	const struct value *v = value_get(t, key);

	return v && v->type == VALUE_STRING ? v->u.string.ptr : NULL;
}

/* The apps table of apply_status() as an array of entries. */
static const struct value_entry *status_apps(const struct value *status,
					     size_t *count)
{
	const struct value *apps = value_get(status, "apps");

	*count = apps && apps->type == VALUE_TABLE ? apps->u.table.count : 0;
	return *count ? apps->u.table.entries : NULL;
}

/* One per-app family over the applied apps: fn gives the value, or
 * returns 0 to leave an app out. */
typedef int (*app_value_fn)(const struct value *a, long long *out);

static void app_family(struct strbuf *sb, const struct value *status,
		       const char *name, const char *type, const char *help,
		       app_value_fn fn)
{
	size_t n;
	const struct value_entry *e = status_apps(status, &n);

	family(sb, name, type, help);
	for (size_t i = 0; i < n; i++) {
		const char *app = str_field(&e[i].val, "app");
		long long v;

		if (app && fn(&e[i].val, &v))
			int_sample(sb, name, "app", app, v);
	}
}

static int healthy_of(const struct value *a, long long *out)
{
	const char *h = str_field(a, "health");

	*out = h && !strcmp(h, "healthy");
	return 1;
}

static int held_of(const struct value *a, long long *out)
{
	*out = value_get(a, "held") != NULL;
	return 1;
}

static int repairs_of(const struct value *a, long long *out)
{
	*out = get_int(a, "drift_repairs");
	return 1;
}

static int restarts_of(const struct value *a, long long *out)
{
	*out = get_int(a, "restarts");
	return 1;
}

/* Backups: from each app's "backup" in the status (apply_status.c). */
static int backup_int(const struct value *a, const char *key, long long *out)
{
	const struct value *b = value_get(a, "backup"), *v = value_get(b, key);

	if (!v || v->type != VALUE_INTEGER)
		return 0;
	*out = v->u.integer;
	return 1;
}

static int rpo_of(const struct value *a, long long *out)
{
	return backup_int(a, "rpo_seconds", out);
}

static int rpo_target_of(const struct value *a, long long *out)
{
	return backup_int(a, "rpo_target_seconds", out);
}

static int rto_target_of(const struct value *a, long long *out)
{
	return backup_int(a, "rto_target_seconds", out);
}

static int last_snapshot_of(const struct value *a, long long *out)
{
	return backup_int(a, "last_snapshot_time", out);
}

static int drill_ok_of(const struct value *a, long long *out)
{
	const struct value *v = value_get(value_get(a, "backup"),
					  "last_drill_ok");

	if (!v || v->type != VALUE_BOOLEAN)
		return 0;
	*out = v->u.boolean;
	return 1;
}

static void render_backups(struct strbuf *sb, const struct value *status)
{
	size_t n, i;
	const struct value_entry *e = status_apps(status, &n);

	/* Only on hosts with backups: no empty families elsewhere. */
	for (i = 0; i < n && !value_get(&e[i].val, "backup"); i++)
		;
	if (i == n)
		return;
	app_family(sb, status, "furrow_backup_last_snapshot_timestamp_seconds",
		   "gauge", "When the app's newest snapshot was taken.",
		   last_snapshot_of);
	app_family(sb, status, "furrow_backup_rpo_seconds", "gauge",
		   "Age of the app's newest verified snapshot (RPO).", rpo_of);
	app_family(sb, status, "furrow_backup_rpo_target_seconds", "gauge",
		   "The RPO target of the app's spec (backup.rpo).",
		   rpo_target_of);
	family(sb, "furrow_backup_rto_seconds", "gauge",
	       "Restore time of the app's last backup drill (RTO).");
	for (i = 0; i < n; i++) {
		const char *app = str_field(&e[i].val, "app");
		const struct value *v = value_get(value_get(&e[i].val, "backup"),
						  "rto_seconds");

		if (!app || !v || v->type != VALUE_NUMBER)
			continue;
		series(sb, "furrow_backup_rto_seconds", "app", app);
		strbuf_addch(sb, ' ');
		add_float(sb, v->u.number);
		strbuf_addch(sb, '\n');
	}
	app_family(sb, status, "furrow_backup_rto_target_seconds", "gauge",
		   "The RTO target of the app's spec (backup.rto).",
		   rto_target_of);
	app_family(sb, status, "furrow_backup_drill_ok", "gauge",
		   "1 if the app's last backup drill restored and checked "
		   "every file.", drill_ok_of);
}

static void render_slots(struct strbuf *sb, const struct value *status)
{
	size_t n;
	const struct value_entry *e = status_apps(status, &n);

	family(sb, "furrow_app_active_slot", "gauge",
	       "1 for the slot an app runs from (apps/APP/current), else 0.");
	for (size_t i = 0; i < n; i++) {
		const char *app = str_field(&e[i].val, "app");
		const char *slot = str_field(&e[i].val, "slot");

		if (!app)
			continue;
		for (int s = 'a'; s <= 'b'; s++) {
			strbuf_addstr(sb, "furrow_app_active_slot{app=\"");
			metrics_escape_label(sb, app);
			strbuf_addf(sb, "\",slot=\"%c\"} %d\n", s,
				    slot && slot[0] == s && !slot[1]);
		}
	}
}

/* Rollbacks: the applied apps and the apps with a counter, merged in
 * name order (both lists are sorted bytewise). */
static void render_rollbacks(struct strbuf *sb, const struct value *status,
			     const struct counters *c)
{
	size_t n, i = 0, k = 0;
	const struct value_entry *e = status_apps(status, &n);
	const char *name = "furrow_rollbacks_total";

	family(sb, name, "counter",
	       "Updates that failed to start or get healthy and were switched "
	       "back.");
	while (i < n || k < c->count) {
		const char *app = i < n ? str_field(&e[i].val, "app") : NULL;
		int cmp;

		if (i < n && !app) {
			i++;
			continue;
		}
		cmp = !app ? 1 : k == c->count ? -1 : strcmp(app, c->apps[k].app);
		if (cmp < 0) {
			int_sample(sb, name, "app", app, 0);
			i++;
		} else {
			int_sample(sb, name, "app", c->apps[k].app,
				   c->apps[k].rollbacks);
			i += cmp == 0;
			k++;
		}
	}
}

static void render_outbox(struct strbuf *sb, const struct outbox_stats *o)
{
	family(sb, "furrow_outbox_items", "gauge",
	       "Reports and events waiting to be sent.");
	int_sample(sb, "furrow_outbox_items", NULL, NULL, (long long)o->depth);
	family(sb, "furrow_outbox_bytes", "gauge",
	       "Size of the bodies waiting to be sent.");
	int_sample(sb, "furrow_outbox_bytes", NULL, NULL, (long long)o->bytes);
	family(sb, "furrow_outbox_dropped_total", "counter",
	       "Outbox items dropped to stay within its bounds, by kind.");
	for (int k = 0; k < OUTBOX_NKINDS; k++)
		int_sample(sb, "furrow_outbox_dropped_total", "kind",
			   outbox_kinds[k], (long long)o->dropped[k]);
	family(sb, "furrow_outbox_dead_letters_total", "counter",
	       "Outbox items the receiver refused for good.");
	int_sample(sb, "furrow_outbox_dead_letters_total", NULL, NULL,
		   (long long)o->dead);
}

int metrics_render(struct strbuf *sb, const struct config *cfg,
		   struct store *st, const struct metrics_extra *x)
{
	struct metrics_extra none;
	struct counters c;
	struct value *status = NULL;
	const struct value *pass;
	long long rss;
	int ret;

	memset(&c, 0, sizeof(c));
	if (!x) {
		memset(&none, 0, sizeof(none));
		x = &none;
	}
	if ((ret = store_view(st, view_txn, &c)))
		goto out;
	if ((ret = apply_status(&status, cfg, st)))
		goto out;
	pass = value_get(status, "last_pass");

	family(sb, "furrow_build_info", "gauge",
	       "Version and git revision of this furrow; always 1.");
	strbuf_addstr(sb, "furrow_build_info{version=\"");
	metrics_escape_label(sb, FURROW_VERSION);
	strbuf_addstr(sb, "\",revision=\"");
	metrics_escape_label(sb, FURROW_GIT_REV);
	strbuf_addstr(sb, "\"} 1\n");

	family(sb, "furrow_passes_total", "counter",
	       "Apply passes attempted.");
	int_sample(sb, "furrow_passes_total", NULL, NULL, c.passes);
	family(sb, "furrow_pass_failures_total", "counter",
	       "Apply passes that stopped before applying anything.");
	int_sample(sb, "furrow_pass_failures_total", NULL, NULL, c.failures);
	if (c.has_last) {
		family(sb, "furrow_pass_duration_seconds", "gauge",
		       "Wall time of the last pass.");
		strbuf_addstr(sb, "furrow_pass_duration_seconds ");
		add_float(sb, c.last_seconds);
		strbuf_addch(sb, '\n');
		family(sb, "furrow_last_pass_exit_code", "gauge",
		       "Exit class of the last pass: 0 converged, 1 error, "
		       "3 verification failed, 4 deferred, 5 rolled back.");
		int_sample(sb, "furrow_last_pass_exit_code", NULL, NULL,
			   c.last_exit);
	}
	family(sb, "furrow_last_success_timestamp_seconds", "gauge",
	       "End of the last pass that ran, in epoch seconds; 0 never.");
	int_sample(sb, "furrow_last_success_timestamp_seconds", NULL, NULL,
		   c.last_success);
	family(sb, "furrow_fetch_failures_total", "counter",
	       "Passes whose fetch of the desired state failed.");
	int_sample(sb, "furrow_fetch_failures_total", NULL, NULL,
		   c.fetch_failures);
	family(sb, "furrow_verify_failures_total", "counter",
	       "Passes whose fetched commit did not verify.");
	int_sample(sb, "furrow_verify_failures_total", NULL, NULL,
		   c.verify_failures);
	if (pass && value_get(pass, "serial")) {
		family(sb, "furrow_applied_serial", "gauge",
		       "Serial of the commit the last pass applied.");
		int_sample(sb, "furrow_applied_serial", NULL, NULL,
			   get_int(pass, "serial"));
	}
	if (x->has_commit_age) {
		family(sb, "furrow_commit_age_seconds", "gauge",
		       "Age of the accepted commit (by its committer time).");
		int_sample(sb, "furrow_commit_age_seconds", NULL, NULL,
			   x->commit_age);
	}

	app_family(sb, status, "furrow_app_healthy", "gauge",
		   "1 if the app's last health verdict was healthy, else 0.",
		   healthy_of);
	render_slots(sb, status);
	app_family(sb, status, "furrow_app_held", "gauge",
		   "1 while an update that failed is held (not retried).",
		   held_of);
	render_rollbacks(sb, status, &c);
	app_family(sb, status, "furrow_drift_repairs_total", "counter",
		   "Drift found in an app and repaired.", repairs_of);
	app_family(sb, status, "furrow_service_restarts_total", "counter",
		   "Times a service that had stopped was started again.",
		   restarts_of);
	render_backups(sb, status);

	if (x->has_outbox)
		render_outbox(sb, &x->outbox);
	if ((rss = resident_bytes()) >= 0) {
		family(sb, "furrow_process_resident_bytes", "gauge",
		       "Resident memory of the furrow process that wrote this.");
		int_sample(sb, "furrow_process_resident_bytes", NULL, NULL, rss);
	}
out:
	value_free(status);
	counters_release(&c);
	return ret;
}

int metrics_write(const struct config *cfg, struct store *st,
		  const struct metrics_extra *x)
{
	struct strbuf sb = STRBUF_INIT;
	int ret;

	if (!cfg->metrics.textfile)
		return 0;
	ret = metrics_render(&sb, cfg, st, x);
	if (!ret)
		ret = file_write_atomic(cfg->metrics.textfile, sb.buf, sb.len, 0644);
	strbuf_release(&sb);
	return ret;
}

int metrics_extra_init(struct metrics_extra *x, const struct config *cfg,
		       struct store *st, long long now)
{
	struct sync_state ss;
	int ret;

	memset(x, 0, sizeof(*x));
	if (!now)
		now = (long long)time(NULL);
	ret = sync_state_load(&ss, st, cfg->state_dir);
	if (!ret && ss.accepted[0]) {
		x->has_commit_age = 1;
		x->commit_age = now - (long long)ss.accepted_commit_time;
	}
	sync_state_release(&ss);
	return ret;
}
