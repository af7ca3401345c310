/*
 * workring.c - a few worker threads over a ring of job slots, results
 * handed back in submit order (workring.h).
 *
 * Counters, not indices: job k lives in slot k % n.  head is the oldest
 * job not handed back, take the next one a thread may run, tail the next
 * free slot; head <= take <= tail and tail - head <= n.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "workring.h"
#include "banned.h"

enum slot_state { SLOT_FREE, SLOT_WAITING, SLOT_RUNNING, SLOT_DONE };

struct slot {
	enum slot_state state;
	int ret;
	char err[256];
};

struct workring {
	workring_run_fn run;
	void *ctx;
	void (*release)(void *job);
	unsigned n;
	size_t job_size;
	unsigned char *jobs;       /* n * job_size */
	struct slot *slots;
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	unsigned long head, take, tail;
	/* The first error since the last drain: sticky until then. */
	int failed;
	char why[FURROW_ERROR_MAX];
	int quit;
	pthread_t tid[WORKRING_MAX_WORKERS];
	unsigned workers;
};

static void *job_at(struct workring *w, unsigned long k)
{
	return w->jobs + (size_t)(k % w->n) * w->job_size;
}

static struct slot *slot_at(struct workring *w, unsigned long k)
{
	return &w->slots[k % w->n];
}

/* Take the next waiting job (mu held); its counter, or 0 with none. */
static int take(struct workring *w, unsigned long *k)
{
	if (w->take == w->tail)
		return 0;
	*k = w->take++;
	slot_at(w, *k)->state = SLOT_RUNNING;
	return 1;
}

/* Run job k without the lock, then mark it done (mu held around). */
static void run_unlocked(struct workring *w, unsigned long k)
{
	struct slot *s = slot_at(w, k);
	void *job = job_at(w, k);
	int ret;

	pthread_mutex_unlock(&w->mu);
	ret = w->run(w->ctx, job);
	if (ret)
		snprintf(s->err, sizeof(s->err), "%s", error_message());
	pthread_mutex_lock(&w->mu);
	s->ret = ret;
	s->state = SLOT_DONE;
	pthread_cond_broadcast(&w->done);
}

static void *worker(void *arg)
{
	struct workring *w = arg;
	unsigned long k;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->quit && !take(w, &k))
			pthread_cond_wait(&w->work, &w->mu);
		if (w->quit)
			break;
		run_unlocked(w, k);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

struct workring *workring_new(unsigned njobs, size_t job_size,
			      workring_run_fn run, void *ctx,
			      void (*init)(void *job),
			      void (*release)(void *job))
{
	struct workring *w = calloc(1, sizeof(*w));
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned want, i;

	if (!w)
		return NULL;
	w->jobs = calloc(njobs, job_size);
	w->slots = calloc(njobs, sizeof(*w->slots));
	if (!w->jobs || !w->slots || !njobs) {
		free(w->jobs);
		free(w->slots);
		free(w);
		return NULL;
	}
	w->run = run;
	w->ctx = ctx;
	w->release = release;
	w->n = njobs;
	w->job_size = job_size;
	for (i = 0; init && i < njobs; i++)
		init(job_at(w, i));
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->work, NULL);
	pthread_cond_init(&w->done, NULL);
	want = cpus > 1 ? (unsigned)(cpus - 1) : 0;
	if (want > WORKRING_MAX_WORKERS)
		want = WORKRING_MAX_WORKERS;
	for (i = 0; i < want; i++)
		if (!pthread_create(&w->tid[w->workers], NULL, worker, w))
			w->workers++;
	return w;
}

/* Remember the first error (mu held). */
static void fail(struct workring *w, int code, const char *msg)
{
	if (w->failed)
		return;
	w->failed = code;
	snprintf(w->why, sizeof(w->why), "%s", msg);
}

/* Hand the finished jobs at the head to done, in order (mu held;
 * released around done).  After an error they are only dropped. */
static void collect(struct workring *w, workring_done_fn done, void *arg)
{
	while (w->head != w->tail && slot_at(w, w->head)->state == SLOT_DONE) {
		struct slot *s = slot_at(w, w->head);
		int ret;

		if (s->ret) {
			fail(w, s->ret, s->err);
		} else if (!w->failed) {
			pthread_mutex_unlock(&w->mu);
			ret = done(arg, job_at(w, w->head));
			pthread_mutex_lock(&w->mu);
			if (ret)
				fail(w, ret, error_message());
		}
		s->state = SLOT_FREE;
		w->head++;
	}
}

/* Run a waiting job here, else wait for one to finish (mu held). */
static void help_or_wait(struct workring *w)
{
	unsigned long k;

	if (take(w, &k))
		run_unlocked(w, k);
	else
		pthread_cond_wait(&w->done, &w->mu);
}

/* The sticky error as this thread's error, or 0. */
static int failure(struct workring *w)
{
	return w->failed ? error_set(w->failed, "%s", w->why) : 0;
}

void *workring_slot(struct workring *w, workring_done_fn done, void *arg,
		    int *ret)
{
	void *job = NULL;

	pthread_mutex_lock(&w->mu);
	collect(w, done, arg);
	while (!w->failed && w->tail - w->head == w->n) {
		help_or_wait(w);
		collect(w, done, arg);
	}
	*ret = failure(w);
	if (!*ret)
		job = job_at(w, w->tail);
	pthread_mutex_unlock(&w->mu);
	return job;
}

void workring_publish(struct workring *w)
{
	pthread_mutex_lock(&w->mu);
	slot_at(w, w->tail)->state = SLOT_WAITING;
	slot_at(w, w->tail)->ret = 0;
	w->tail++;
	pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->mu);
}

int workring_drain(struct workring *w, workring_done_fn done, void *arg)
{
	int ret;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		collect(w, done, arg);
		if (w->head == w->tail)
			break;
		help_or_wait(w);
	}
	ret = failure(w);
	w->failed = 0;
	pthread_mutex_unlock(&w->mu);
	return ret;
}

int workring_find(struct workring *w,
		  int (*match)(const void *job, const void *key),
		  const void *key)
{
	unsigned long k;
	int found = 0;

	pthread_mutex_lock(&w->mu);
	for (k = w->head; k != w->tail && !found; k++)
		found = match(job_at(w, k), key);
	pthread_mutex_unlock(&w->mu);
	return found;
}

void workring_free(struct workring *w)
{
	unsigned i;

	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->quit = 1;
	pthread_cond_broadcast(&w->work);
	pthread_mutex_unlock(&w->mu);
	for (i = 0; i < w->workers; i++)
		pthread_join(w->tid[i], NULL);
	for (i = 0; w->release && i < w->n; i++)
		w->release(job_at(w, i));
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->work);
	pthread_cond_destroy(&w->done);
	free(w->jobs);
	free(w->slots);
	free(w);
}
