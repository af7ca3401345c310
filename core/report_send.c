/*
 * report_send.c - see report_send.h.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "monoclock.h"
#include "backoff.h"
#include "bug.h"
#include "config.h"
#include "error.h"
#include "http.h"
#include "limits.h"
#include "log.h"
#include "outbox.h"
#include "report_send.h"
#include "store.h"
#include "strbuf.h"
#include "banned.h"

#define SENDER_KEY_BYTES 160 /* what tells one kind of failure from another */

struct sender {
	char *url;
	char *ca_file;
	char *token_file;
	unsigned timeout_ms;

	/* Used by sender_step() only: one thread at a time. */
	struct backoff bo;
	char *instance;             /* meta instance_id, read once */
	struct strbuf body;         /* the head item's document */
	int backing_off;
	double retry_at;            /* monotonic; valid while backing_off */
	char fail_key[SENDER_KEY_BYTES]; /* the failure last logged; "" none */
	double fail_since;          /* monotonic, first failure of the run */

	/* Shared with other threads, under mu. */
	pthread_mutex_t mu;
	pthread_cond_t cond;
	int kicked;
	struct sender_status status;

	/* The thread. */
	int running;
	pthread_t tid;
	struct store *st;
	volatile sig_atomic_t *stop;
	int quit;                   /* __atomic: sender_join() asked */
};

struct sender *sender_new(const struct config *cfg)
{
	struct sender *s;
	pthread_condattr_t ca;
	double t = cfg->report.timeout > 0 ? cfg->report.timeout : LIMIT_REPORT_SECONDS;

	if (!cfg->report.url)
		BUG("sender_new without report.url");
	s = xcalloc(1, sizeof(*s));
	s->url = xstrdup(cfg->report.url);
	s->ca_file = cfg->report.ca_file ? xstrdup(cfg->report.ca_file) : NULL;
	s->token_file = cfg->report.token_file ? xstrdup(cfg->report.token_file) : NULL;
	/* config.c bounds report.timeout; a day keeps the product in range
	 * whatever it says. */
	s->timeout_ms = (unsigned)((t < 86400.0 ? t : 86400.0) * 1000.0);
	backoff_init(&s->bo, LIMIT_REPORT_BACKOFF_BASE, LIMIT_REPORT_BACKOFF_CAP);
	strbuf_init(&s->body, 0);
	if (pthread_mutex_init(&s->mu, NULL) ||
	    pthread_condattr_init(&ca) ||
	    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) ||
	    pthread_cond_init(&s->cond, &ca))
		BUG("cannot initialise the sender's lock");
	pthread_condattr_destroy(&ca);
	return s;
}

void sender_free(struct sender *s)
{
	if (!s)
		return;
	sender_join(s);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->mu);
	free(s->url);
	free(s->ca_file);
	free(s->token_file);
	free(s->instance);
	strbuf_release(&s->body);
	free(s);
}

void sender_set_uniform(struct sender *s, double (*uniform)(void *arg),
			void *arg)
{
	s->bo.uniform = uniform;
	s->bo.arg = arg;
}

void sender_get_status(struct sender *s, struct sender_status *out)
{
	pthread_mutex_lock(&s->mu);
	*out = s->status;
	pthread_mutex_unlock(&s->mu);
}

static int sender_stopping(struct sender *s)
{
	return __atomic_load_n(&s->quit, __ATOMIC_ACQUIRE) ||
	       (s->stop && *s->stop);
}

static int sender_cancel(void *arg)
{
	return sender_stopping(arg);
}

/* The first line of an answer, at most LIMIT_REPORT_REASON_BYTES, with
 * control characters shown as '?': it goes into logs and dead letters. */
static void first_line(char *buf, size_t size, const char *text, size_t len)
{
	size_t n = 0, i;

	if (size > LIMIT_REPORT_REASON_BYTES + 1)
		size = LIMIT_REPORT_REASON_BYTES + 1;
	for (i = 0; i < len && n + 1 < size; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c == '\n' || c == '\r')
			break;
		buf[n++] = c < ' ' || c == 0x7f ? '?' : (char)c;
	}
	buf[n] = '\0';
}

/* "HTTP 503" or "HTTP 503: <first line of the body>". */
static void http_reason(char *buf, size_t size, const struct http_response *r)
{
	char line[LIMIT_REPORT_REASON_BYTES + 1];

	first_line(line, sizeof(line), r->body, r->body_len);
	if (line[0])
		snprintf(buf, size, "HTTP %ld: %s", r->status, line);
	else
		snprintf(buf, size, "HTTP %ld", r->status);
}

/* What tells failures apart for logging: the status, or the message
 * with its numbers blurred ("after 12 ms" is the same failure as "after
 * 3 ms"). */
static void fail_key(char *key, size_t size, long status, const char *msg)
{
	size_t n = 0;
	int in_digits = 0;

	if (status > 0) {
		snprintf(key, size, "HTTP %ld", status);
		return;
	}
	for (; *msg && n + 1 < size; msg++) {
		int digit = *msg >= '0' && *msg <= '9';

		if (!digit)
			key[n++] = *msg;
		else if (!in_digits)
			key[n++] = '#';
		in_digits = digit;
	}
	key[n] = '\0';
}

/*
 * The head item (seq; 0 when none was read) was not delivered: back off,
 * log if this is a new kind of failure, record it.  retry_after < 0 when
 * the answer had none.
 */
static void sender_failed(struct sender *s, double now, double *next,
			  uint64_t seq, long status, long retry_after,
			  const char *msg)
{
	char key[SENDER_KEY_BYTES], seqs[24], wait_s[32], tries[16];
	double wait = backoff_next(&s->bo);
	int first = !s->fail_key[0];

	if (retry_after >= 0) {
		double ra = (double)retry_after < LIMIT_REPORT_RETRY_AFTER ?
			    (double)retry_after : LIMIT_REPORT_RETRY_AFTER;

		if (ra > wait)
			wait = ra;
	}
	s->backing_off = 1;
	s->retry_at = now + wait;
	*next = s->retry_at;

	pthread_mutex_lock(&s->mu);
	s->status.failures++;
	s->status.failing++;
	s->status.retry_at = s->retry_at;
	s->status.last_status = status;
	snprintf(s->status.last_error, sizeof(s->status.last_error), "%s", msg);
	snprintf(tries, sizeof(tries), "%u", s->status.failing);
	pthread_mutex_unlock(&s->mu);

	if (first)
		s->fail_since = now;
	snprintf(seqs, sizeof(seqs), "%llu", (unsigned long long)seq);
	snprintf(wait_s, sizeof(wait_s), "%.1f", wait);
	fail_key(key, sizeof(key), status, msg);
	log_event(strcmp(key, s->fail_key) ? LOG_WARN : LOG_DEBUG,
		  "report.send_failed",
		  first ? "report delivery failed; retrying with backoff"
			: "report delivery still failing; retrying with backoff",
		  "url", s->url, "seq", seq ? seqs : NULL, "error", msg,
		  "attempts", tries, "retry_in", wait_s, NULL);
	snprintf(s->fail_key, sizeof(s->fail_key), "%s", key);
}

/* The receiver answered (2xx or a final 4xx): the link works again. */
static void sender_answered(struct sender *s, double now, long status,
			    int delivered)
{
	char tries[16], secs[32];
	unsigned failing;

	backoff_reset(&s->bo);
	s->backing_off = 0;
	pthread_mutex_lock(&s->mu);
	failing = s->status.failing;
	s->status.failing = 0;
	s->status.retry_at = 0;
	s->status.last_status = status;
	if (delivered) {
		s->status.delivered++;
		s->status.last_error[0] = '\0';
	} else {
		s->status.rejected++;
	}
	pthread_mutex_unlock(&s->mu);
	if (s->fail_key[0] && delivered) {
		snprintf(tries, sizeof(tries), "%u", failing);
		snprintf(secs, sizeof(secs), "%.1f", now - s->fail_since);
		log_event(LOG_INFO, "report.send_recovered",
			  "reports are delivered again", "url", s->url,
			  "failed_attempts", tries, "seconds", secs, NULL);
	}
	s->fail_key[0] = '\0';
}

static int sender_instance(struct sender *s, struct store *st)
{
	struct strbuf sb = STRBUF_INIT;
	int ret;

	ret = store_get_copy(st, "meta", "instance_id", strlen("instance_id"), &sb);
	if (ret == FURROW_ENOENT)
		ret = error_set(FURROW_ENOENT, "the store has no instance_id");
	/* It goes into a header: store.c writes 32 hex digits. */
	if (!ret && (!sb.len || sb.len > 64 ||
		     strspn(sb.buf, "0123456789abcdefABCDEF") != sb.len))
		ret = error_set(FURROW_ESYNTAX, "the store's instance_id is garbled");
	if (ret)
		strbuf_release(&sb);
	else
		s->instance = strbuf_detach(&sb, NULL);
	return ret;
}

/* A store call failed: back off like a failed delivery, keep the code. */
static int sender_store_failed(struct sender *s, double now, double *next,
			       uint64_t seq, int ret)
{
	char msg[FURROW_ERROR_MAX];

	error_prefix(ret, "report outbox");
	snprintf(msg, sizeof(msg), "%s", error_message());
	sender_failed(s, now, next, seq, 0, -1, msg);
	/* Logging may not touch it, but the caller is promised the message. */
	error_set(ret, "%s", msg);
	return ret;
}

int sender_step(struct sender *s, struct store *st, double now, double *next)
{
	struct outbox_item it = { .body = &s->body };
	struct http_post_options o;
	struct http_response resp;
	char key[128], why[LIMIT_REPORT_REASON_BYTES + 64];
	char seqs[24], codes[16];
	double t0;
	int ret;

	if (s->backing_off && now < s->retry_at) {
		*next = s->retry_at;
		return SENDER_WAITING;
	}
	if (!s->instance && (ret = sender_instance(s, st)) < 0)
		return sender_store_failed(s, now, next, 0, ret);
	ret = outbox_peek(st, &it);
	if (ret == FURROW_ENOENT) {
		error_clear();
		/* Nothing to retry: the next item starts afresh. */
		s->backing_off = 0;
		*next = now + LIMIT_REPORT_IDLE_SECONDS;
		return SENDER_IDLE;
	}
	if (ret < 0)
		return sender_store_failed(s, now, next, 0, ret);

	snprintf(key, sizeof(key), "%s-%llu", s->instance,
		 (unsigned long long)it.seq);
	memset(&o, 0, sizeof(o));
	o.ca_file = s->ca_file;
	o.token_file = s->token_file;
	o.idempotency_key = key;
	o.timeout_ms = s->timeout_ms;
	o.max_body = LIMIT_REPORT_RESPONSE_BYTES;
	o.cancel = sender_cancel;
	o.cancel_arg = s;
	t0 = monoclock_now();
	ret = http_post(&resp, s->url, s->body.buf, s->body.len, &o);
	/* Waits count from the end of the attempt, which may have taken
	 * the whole timeout. */
	now += monoclock_now() - t0;
	if (ret < 0) {
		if (sender_stopping(s)) {
			/* Cancelled on the way out: the next furrow sends it. */
			*next = now;
			return SENDER_RETRY;
		}
		sender_failed(s, now, next, it.seq, 0, -1, error_message());
		return SENDER_RETRY;
	}

	if (resp.status >= 200 && resp.status <= 299) {
		ret = outbox_ack(st, it.seq);
		http_response_release(&resp);
		/* Delivered even if the ack failed; then it goes again, and
		 * the receiver drops the duplicate. */
		sender_answered(s, now, 200, 1);
		if (ret < 0)
			return sender_store_failed(s, now, next, it.seq, ret);
		*next = now;
		return SENDER_DELIVERED;
	}
	http_reason(why, sizeof(why), &resp);
	/* 401/403 are this host's credentials, not the document: a wrong or
	 * expired token must not send every report to the dead letters. */
	if (resp.status >= 400 && resp.status <= 499 && resp.status != 408 &&
	    resp.status != 429 && resp.status != 401 && resp.status != 403) {
		long status = resp.status;

		http_response_release(&resp);
		/* ENOENT: dropped for room meanwhile, gone either way. */
		ret = outbox_dead_letter(st, it.seq, why);
		if (ret < 0 && ret != FURROW_ENOENT)
			return sender_store_failed(s, now, next, it.seq, ret);
		sender_answered(s, now, status, 0);
		snprintf(seqs, sizeof(seqs), "%llu", (unsigned long long)it.seq);
		snprintf(codes, sizeof(codes), "%ld", status);
		log_event(LOG_ERROR, "report.rejected",
			  "the receiver refused a document for good; it is "
			  "kept in the dead letters", "url", s->url,
			  "seq", seqs, "kind", outbox_kind_name(it.kind),
			  "status", codes, "reason", why, NULL);
		*next = now;
		return SENDER_REJECTED;
	}
	/* 408, 429, 5xx, and what is neither success nor refusal (a 3xx:
	 * redirects are not followed; a 1xx): keep it, try again later. */
	{
		char msg[FURROW_ERROR_MAX];

		if (resp.redirect)
			snprintf(msg, sizeof(msg), "%s: %s (redirect to %s not followed)",
				 s->url, why, resp.redirect);
		else
			snprintf(msg, sizeof(msg), "%s: %s", s->url, why);
		sender_failed(s, now, next, it.seq, resp.status,
			      resp.retry_after, msg);
	}
	http_response_release(&resp);
	return SENDER_RETRY;
}

/* ---- the thread ------------------------------------------------------------ */

static void *sender_main(void *arg)
{
	struct sender *s = arg;
	struct timespec ts;

	while (!sender_stopping(s)) {
		double now = monoclock_now(), next = now, t, until;
		int r = sender_step(s, s->st, now, &next);

		if (r == SENDER_DELIVERED || r == SENDER_REJECTED)
			continue;
		pthread_mutex_lock(&s->mu);
		/* Wake at next, at a kick, or each second to look at *stop
		 * (a signal handler sets it and cannot signal the condvar). */
		while (!s->kicked && !sender_stopping(s) &&
		       (t = monoclock_now()) < next) {
			until = next < t + 1.0 ? next : t + 1.0;
			ts.tv_sec = (time_t)until;
			ts.tv_nsec = (long)((until - (double)ts.tv_sec) * 1e9);
			if (ts.tv_nsec >= 1000000000L)
				ts.tv_nsec = 999999999L;
			pthread_cond_timedwait(&s->cond, &s->mu, &ts);
		}
		s->kicked = 0;
		pthread_mutex_unlock(&s->mu);
	}
	return NULL;
}

int sender_start(struct sender *s, struct store *st,
		 volatile sig_atomic_t *stop)
{
	sigset_t all, old;
	int rc;

	if (s->running)
		return error_set(FURROW_ERR, "the report sender already runs");
	s->st = st;
	s->stop = stop;
	__atomic_store_n(&s->quit, 0, __ATOMIC_RELEASE);
	/* Process signals (SIGTERM, SIGHUP, SIGCHLD, ...) go to the other
	 * threads, which wait for them; faults stay deliverable here. */
	sigfillset(&all);
	sigdelset(&all, SIGSEGV);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGFPE);
	sigdelset(&all, SIGILL);
	sigdelset(&all, SIGTRAP);
	sigdelset(&all, SIGABRT);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&s->tid, NULL, sender_main, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc)
		return error_set(FURROW_ERR, "cannot start the report sender "
				 "thread: %s", strerror(rc));
	s->running = 1;
	return 0;
}

void sender_kick(struct sender *s)
{
	pthread_mutex_lock(&s->mu);
	s->kicked = 1;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->mu);
}

void sender_join(struct sender *s)
{
	if (!s->running)
		return;
	__atomic_store_n(&s->quit, 1, __ATOMIC_RELEASE);
	pthread_mutex_lock(&s->mu);
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->tid, NULL);
	s->running = 0;
}
