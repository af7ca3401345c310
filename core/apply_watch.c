/*
 * apply_watch.c - between passes, keep supervised services running.
 *
 * Once a second the daemon looks at every applied app's active slot: if
 * it has a pid file (a service) whose process is gone, the service is
 * started again after supervise_restart_delay() seconds - a backoff that
 * grows with each quick crash and starts over after a stable run - and
 * the restart is counted in the runtime record and the history.
 *
 * This is deliberately cheap when nothing happened: one read of the
 * runtime table, then per app a readlink, a small file read and a
 * /proc stat; the spec is only loaded for a restart.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "monoclock.h"
#include "appname.h"
#include "apply_int.h"
#include "backoff.h"
#include "bug.h"
#include "config.h"
#include "driver.h"
#include "error.h"
#include "limits.h"
#include "log.h"
#include "slots.h"
#include "strbuf.h"
#include "supervise.h"
#include "banned.h"

struct watched {
	char *app;
	struct backoff b;
	double due;        /* monotonic time of the planned restart; 0 none */
	double started;    /* monotonic time of the last restart */
	int seen;
};

struct apply_watch {
	struct watched *w;
	size_t n, alloc;
};

struct apply_watch *apply_watch_new(void)
{
	return xcalloc(1, sizeof(struct apply_watch));
}

void apply_watch_free(struct apply_watch *aw)
{
	if (!aw)
		return;
	for (size_t i = 0; i < aw->n; i++)
		free(aw->w[i].app);
	free(aw->w);
	free(aw);
}

static struct watched *entry(struct apply_watch *aw, const char *app)
{
	struct watched *w;

	for (size_t i = 0; i < aw->n; i++)
		if (!strcmp(aw->w[i].app, app))
			return &aw->w[i];
	if (aw->n == aw->alloc) {
		aw->alloc = aw->alloc ? 2 * aw->alloc : 16;
		aw->w = xrealloc(aw->w, aw->alloc * sizeof(*aw->w));
	}
	w = &aw->w[aw->n++];
	memset(w, 0, sizeof(*w));
	w->app = xstrdup(app);
	backoff_init(&w->b, LIMIT_SERVICE_BACKOFF_BASE, LIMIT_SERVICE_BACKOFF_CAP);
	return w;
}

/* 1 when the slot has a pid file whose process is gone. */
static int exited(const char *state_dir, const char *app, int slot)
{
	struct strbuf p = STRBUF_INIT;
	struct proc_id id;
	int ret;

	strbuf_addf(&p, "%s/apps/%s/run/%c.pid", state_dir, app, slot);
	ret = supervise_read_pid_file(&id, p.buf);
	strbuf_release(&p);
	error_clear();
	if (ret)
		return 0;
	return !supervise_poll(&id, NULL);
}

static void restart(struct engine *e, struct watched *w, int slot)
{
	struct appspec *spec = slot_spec(e, w->app, slot);
	struct slots *s = NULL;
	struct app_runtime rt;
	char why[128];
	int ret;

	if (!spec || spec->kind != APPSPEC_SERVICE) {
		error_clear();
		appspec_free(spec);
		return;
	}
	ret = slots_open(&s, e->cfg->state_dir, w->app);
	if (!ret) {
		struct driver_ctx c = { e->cfg, w->app, s, spec, "" };

		ret = driver_service.start(&c, slot);
	}
	snprintf(why, sizeof(why), "service exited; restarted (attempt %u)",
		 w->b.attempt);
	if (ret) {
		log_event(LOG_ERROR, "apply.restart_failed", error_message(),
			  "app", w->app, NULL);
	} else {
		log_event(LOG_WARN, "apply.restarted", why, "app", w->app, NULL);
		eng_history(e, w->app, "restart", slot, slot, "", why);
		if (!eng_runtime_get(e, w->app, &rt)) {
			rt.restarts++;
			eng_runtime_put(e, w->app, &rt);
		}
	}
	w->started = monoclock_now();
	slots_free(s);
	appspec_free(spec);
}

struct tick {
	struct apply_watch *aw;
	struct engine *e;
	double now;
};

static int tick_one(const char *app, const struct app_runtime *rt, void *arg)
{
	struct tick *t = arg;
	struct watched *w = entry(t->aw, app);
	int slot = app_active_slot(t->e->cfg->state_dir, app);

	(void)rt;
	w->seen = 1;
	if (!slot || !exited(t->e->cfg->state_dir, app, slot)) {
		w->due = 0;
		return 0;
	}
	if (!w->due) {
		double ran = w->started ? t->now - w->started : 1e9;

		w->due = t->now + supervise_restart_delay(&w->b, ran);
		return 0;
	}
	if (t->now >= w->due) {
		w->due = 0;
		restart(t->e, w, slot);
	}
	return 0;
}

int apply_watch_tick(struct apply_watch *aw, const struct config *cfg,
		     struct store *st)
{
	struct engine e;
	struct tick t = { aw, &e, monoclock_now() };
	int ret;

	eng_init(&e, cfg, st, NULL);
	for (size_t i = 0; i < aw->n; i++)
		aw->w[i].seen = 0;
	ret = runtime_list(st, tick_one, &t);
	eng_release(&e);
	return ret;
}
