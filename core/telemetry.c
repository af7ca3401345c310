/*
 * telemetry.c - metrics, reports and events after and during passes
 * (see telemetry.h).
 */
#include <string.h>
#include <time.h>

#include "monoclock.h"
#include "apply.h"
#include "config.h"
#include "error.h"
#include "log.h"
#include "metrics.h"
#include "report.h"
#include "telemetry.h"
#include "banned.h"

void telemetry_init(struct telemetry *t, const struct config *cfg,
		    struct store *st)
{
	memset(t, 0, sizeof(*t));
	t->cfg = cfg;
	t->st = st;
}

static void kick(struct telemetry *t)
{
	if (t->kick)
		t->kick(t->kick_arg);
}

void telemetry_event(void *arg, const char *name, const char *app,
		     const char *commit, const char *message)
{
	struct telemetry *t = arg;

	if (!t->cfg->report.url)
		return;
	report_event(t->cfg, t->st, name, app, commit, message);
	kick(t);
}

static void queue_report(struct telemetry *t, enum outbox_kind kind)
{
	if (!t->cfg->report.url)
		return;
	if (report_enqueue(t->cfg, t->st, kind)) {
		log_event(LOG_WARN, "report.not_queued", error_message(), NULL);
		error_clear();
		return;
	}
	t->last_report = monoclock_now();
	kick(t);
}

/* Did the pass change or fail anything? */
static int eventful(const struct apply_result *r, int ret)
{
	if (ret || !r || r->fetch_error || r->verify_error || r->recovered)
		return 1;
	for (size_t i = 0; i < r->count; i++)
		if (r->apps[i].outcome != APPLY_UNCHANGED)
			return 1;
	return 0;
}

void telemetry_after_pass(struct telemetry *t, const struct apply_result *r,
			  int ret, double seconds)
{
	struct metrics_pass mp = { seconds, ret == 0, 0, r };
	struct metrics_extra x;

	if (metrics_record_pass(t->st, &mp))
		goto warn;
	if (!t->cfg->metrics.textfile)
		goto report;
	if (metrics_extra_init(&x, t->cfg, t->st, (long long)time(NULL)))
		goto warn;
	if (t->cfg->report.url && !outbox_stats(t->st, &x.outbox))
		x.has_outbox = 1;
	error_clear();
	if (metrics_write(t->cfg, t->st, &x))
		goto warn;
	goto report;
warn:
	log_event(LOG_WARN, "metrics.not_written", error_message(), NULL);
	error_clear();
report:
	if (eventful(r, ret) || !t->last_report)
		queue_report(t, OUTBOX_REPORT);
	else
		telemetry_tick(t);
}

void telemetry_tick(struct telemetry *t)
{
	if (t->cfg->report.url && t->last_report &&
	    monoclock_now() - t->last_report >= t->cfg->report.interval)
		queue_report(t, OUTBOX_HEARTBEAT);
}
