/*
 * agent.c - the daemon loop of `furrow run` (see agent.h).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "monoclock.h"
#include "agent.h"
#include "apply.h"
#include "backup.h"
#include "bug.h"
#include "config.h"
#include "control.h"
#include "error.h"
#include "log.h"
#include "report_send.h"
#include "store.h"
#include "telemetry.h"
#include "strbuf.h"
#include "banned.h"

#define TICK_MS 200          /* how often the loop wakes */
#define WATCH_SECONDS 1.0    /* service watch period */

static volatile sig_atomic_t stop_flag, hup_flag;

static void on_stop(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void on_hup(int sig)
{
	(void)sig;
	hup_flag = 1;
}

static void install(int sig, void (*fn)(int))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fn;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

static void kick_sender(void *arg)
{
	sender_kick(arg);
}

/* sd_notify without libsystemd: one datagram to $NOTIFY_SOCKET. */
static void notify(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	size_t len;
	int fd;

	if (!path || (path[0] != '/' && path[0] != '@') ||
	    (len = strlen(path)) >= sizeof(sa.sun_path))
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, len);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = 0;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	(void)sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa,
		     (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
	close(fd);
}

/* Seconds until the next timed pass: interval +- jitter * interval. */
static double next_delay(const struct config *cfg)
{
	unsigned int r = 0;
	double u;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
		r = (unsigned int)time(NULL);
	u = (double)r / 4294967296.0;
	return cfg->source.interval *
	       (1.0 + cfg->source.jitter * (2.0 * u - 1.0));
}

struct pass_thread {
	const struct config *cfg;
	struct store *st;
	struct telemetry *tm;
	pthread_t tid;
	volatile int running;     /* set by main, cleared by the thread */
	int joined;
	struct apply_result r;
	int ret;
	struct backup_sched *bsched;
};

static void *pass_main(void *arg)
{
	struct pass_thread *p = arg;
	struct apply_options o;
	size_t counts[APPLY_FAILED + 1] = { 0 };
	char summary[256];

	memset(&o, 0, sizeof(o));
	o.stop = &stop_flag;
	o.event = telemetry_event;
	o.event_arg = p->tm;
	apply_result_release(&p->r);
	p->ret = apply_pass(&p->r, p->cfg, p->st, &o);
	/* Scheduled backups and drills: after the pass, on this thread, so
	 * they never overlap an update of the same app. */
	if (!stop_flag && apply_backup_due(p->cfg, p->st, p->bsched,
					   telemetry_event, p->tm) < 0)
		error_clear();
	telemetry_after_pass(p->tm, &p->r, p->ret, p->r.seconds);
	/* Pages of the state store's map read during the pass count as
	 * resident until unmapped (see store_trim_resident()): without
	 * this a daemon's RSS creeps up until data.mdb stops growing. */
	store_trim_resident(p->st);
	if (p->ret) {
		log_event(LOG_ERROR, "agent.pass_failed", error_message(), NULL);
	} else {
		for (size_t i = 0; i < p->r.count; i++)
			counts[p->r.apps[i].outcome]++;
		snprintf(summary, sizeof(summary), "%zu applied, %zu removed, "
			 "%zu repaired, %zu unchanged, %zu rolled back, %zu "
			 "held, %zu deferred, %zu failed in %.2f s",
			 counts[APPLY_APPLIED], counts[APPLY_REMOVED],
			 counts[APPLY_REPAIRED], counts[APPLY_UNCHANGED],
			 counts[APPLY_ROLLED_BACK], counts[APPLY_HELD],
			 counts[APPLY_DEFERRED] + counts[APPLY_DENIED] +
			 counts[APPLY_SKIPPED], counts[APPLY_FAILED],
			 p->r.seconds);
		log_event(LOG_INFO, "agent.pass", summary, "commit", p->r.commit,
			  NULL);
	}
	__atomic_store_n(&p->running, 0, __ATOMIC_RELEASE);
	return NULL;
}

static int pass_start(struct pass_thread *p)
{
	p->running = 1;
	p->joined = 0;
	if (pthread_create(&p->tid, NULL, pass_main, p)) {
		p->running = 0;
		p->joined = 1;
		return error_set(FURROW_EIO, "cannot start the pass thread");
	}
	return 0;
}

static int pass_busy(struct pass_thread *p)
{
	if (__atomic_load_n(&p->running, __ATOMIC_ACQUIRE))
		return 1;
	if (!p->joined) {
		pthread_join(p->tid, NULL);
		p->joined = 1;
	}
	return 0;
}

/* A pending rollback, backup or drill request: served between passes. */
struct pending {
	int conn;
	char verb[32];
	char app[256];
};

static void serve_control(int lfd, int *want_pass, struct pending *rb,
			  size_t *nrb, size_t max_rb)
{
	struct control_request req;
	int conn;

	for (;;) {
		if (control_accept(lfd, &req, &conn)) {
			log_event(LOG_WARN, "agent.control_error", error_message(),
				  NULL);
			error_clear();
			return;
		}
		if (conn < 0)
			return;
		if (!strcmp(req.verb, "ping")) {
			control_reply(conn, 1, "pong");
		} else if (!strcmp(req.verb, "sync-now")) {
			*want_pass = 1;
			control_reply(conn, 1, "a pass is starting");
		} else if ((!strcmp(req.verb, "rollback") ||
			    !strcmp(req.verb, "backup") ||
			    !strcmp(req.verb, "drill")) && *nrb < max_rb) {
			rb[*nrb].conn = conn;
			snprintf(rb[*nrb].verb, sizeof(rb[*nrb].verb), "%s",
				 req.verb);
			snprintf(rb[*nrb].app, sizeof(rb[*nrb].app), "%s", req.arg);
			(*nrb)++;
		} else {
			control_reply(conn, 0, "busy: too many requests queued");
		}
	}
}

static void serve_pending(const struct config *cfg, struct store *st,
			  const struct pending *q)
{
	char msg[512];
	int ret;

	if (!strcmp(q->verb, "backup")) {
		struct backup_info info;

		ret = apply_backup(cfg, st, q->app, "manual", &info);
		snprintf(msg, sizeof(msg), "snapshot %llu: %llu files, %llu "
			 "bytes, %llu new bytes stored in %.2f s",
			 (unsigned long long)info.id,
			 (unsigned long long)info.files,
			 (unsigned long long)info.bytes,
			 (unsigned long long)info.new_bytes, info.seconds);
	} else if (!strcmp(q->verb, "drill")) {
		struct backup_drill_result dr;

		ret = apply_drill(cfg, st, q->app, &dr);
		if (!ret && !dr.ok)
			ret = error_set(FURROW_EVERIFY, "drill failed: %s",
					dr.why);
		snprintf(msg, sizeof(msg), "drill of snapshot %llu passed: %llu "
			 "files, %llu bytes restored and checked in %.2f s",
			 (unsigned long long)dr.snapshot,
			 (unsigned long long)dr.files,
			 (unsigned long long)dr.bytes, dr.seconds);
	} else {
		ret = apply_rollback(cfg, st, q->app);
		snprintf(msg, sizeof(msg), "rolled back");
	}
	control_reply(q->conn, !ret, ret ? error_message() : msg);
	error_clear();
}

int agent_run(const struct config *cfg, const struct agent_options *o)
{
	struct pass_thread p;
	struct telemetry tm;
	struct sender *sender = NULL;
	struct pending rb[16];
	struct apply_watch *aw = NULL;
	struct store *st = NULL;
	size_t nrb = 0;
	double next_pass, next_watch = 0;
	int lfd = -1, want_pass = 1, first = 1, ret;

	memset(&p, 0, sizeof(p));
	p.joined = 1;
	stop_flag = hup_flag = 0;
	if ((ret = store_open(&st, cfg->state_dir, NULL)))
		return ret;
	if ((ret = control_listen(&lfd, cfg->state_dir)))
		goto out;
	install(SIGTERM, on_stop);
	install(SIGINT, on_stop);
	install(SIGHUP, on_hup);
	signal(SIGPIPE, SIG_IGN);
	aw = apply_watch_new();
	telemetry_init(&tm, cfg, st);
	/* Reports go out on their own thread: a slow or dead collector
	 * never holds up a pass. */
	if (cfg->report.url) {
		sender = sender_new(cfg);
		if ((ret = sender_start(sender, st, &stop_flag)))
			goto out;
		tm.kick = kick_sender;
		tm.kick_arg = sender;
	}
	p.cfg = cfg;
	p.st = st;
	p.tm = &tm;
	p.bsched = backup_sched_new();
	next_pass = monoclock_now();
	log_event(LOG_INFO, "agent.started", "furrow run", "state_dir",
		  cfg->state_dir, NULL);
	while (!stop_flag) {
		double now = monoclock_now();
		int busy = pass_busy(&p);

		if (!busy && !first && o->once)
			break;
		if (hup_flag) {
			hup_flag = 0;
			want_pass = 1;
		}
		if (!busy && (want_pass || now >= next_pass)) {
			want_pass = 0;
			if ((ret = pass_start(&p)))
				goto out;
			next_pass = now + next_delay(cfg);
			continue;
		}
		if (!busy && first && p.joined) {
			first = 0;
			notify("READY=1");
			if (o->once)
				break;
		}
		if (!busy) {
			for (size_t i = 0; i < nrb; i++)
				serve_pending(cfg, st, &rb[i]);
			nrb = 0;
			if (now >= next_watch) {
				if (apply_watch_tick(aw, cfg, st))
					error_clear();
				telemetry_tick(&tm);
				next_watch = now + WATCH_SECONDS;
			}
		}
		{
			struct pollfd pfd = { lfd, POLLIN, 0 };

			if (poll(&pfd, 1, TICK_MS) > 0)
				serve_control(lfd, &want_pass, rb, &nrb,
					      sizeof(rb) / sizeof(*rb));
		}
	}
	ret = 0;
	notify("STOPPING=1");
	log_event(LOG_INFO, "agent.stopping", stop_flag ? "signal" : "done",
		  NULL);
out:
	while (pass_busy(&p))
		usleep(50000);
	for (size_t i = 0; i < nrb; i++)
		control_reply(rb[i].conn, 0, "furrow is stopping");
	apply_result_release(&p.r);
	backup_sched_free(p.bsched);
	sender_free(sender);   /* joins its thread first */
	if (lfd >= 0)
		control_close(lfd, cfg->state_dir);
	apply_watch_free(aw);
	store_free(st);
	return ret;
}
