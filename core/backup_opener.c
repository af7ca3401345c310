/*
 * backup_opener.c - fetch, decrypt, decompress and check chunks on worker
 * threads while a restore writes the ones before them (backup_int.h:
 * struct opener).  The same shape as the sealer: a fixed array of jobs,
 * workers take them in order, the submitter drains a full array - opening
 * what no worker took yet itself - and gets every result in submit order.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backup_int.h"
#include "bug.h"
#include "error.h"
#include "strbuf.h"
#include "banned.h"

#define OPENER_MAX_WORKERS 4

enum ojob_state { OJOB_FREE, OJOB_WAITING, OJOB_RUNNING, OJOB_DONE };

struct ojob {
	enum ojob_state state;
	unsigned char id[BT_ID_BYTES];
	uint64_t len, off;         /* as the manifest says; where it goes */
	struct strbuf blob, plain;
	int ret;
	char err[512];
};

struct opener {
	const struct chunk_source *src;
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	struct ojob jobs[OPENER_JOBS];
	size_t n, next;
	int quit;
	pthread_t tid[OPENER_MAX_WORKERS];
	unsigned workers;
};

static void run_job(struct opener *o, struct ojob *j)
{
	j->ret = chunk_read(o->src, j->id, &j->blob, &j->plain);
	if (!j->ret && j->plain.len != j->len)
		j->ret = error_set(FURROW_EVERIFY, "a chunk's length differs "
				   "from the manifest");
	if (j->ret)
		snprintf(j->err, sizeof(j->err), "%s", error_message());
}

static struct ojob *take(struct opener *o)
{
	struct ojob *j;

	if (o->next >= o->n)
		return NULL;
	j = &o->jobs[o->next++];
	j->state = OJOB_RUNNING;
	return j;
}

static void *worker(void *arg)
{
	struct opener *o = arg;
	struct ojob *j;

	pthread_mutex_lock(&o->mu);
	for (;;) {
		while (!o->quit && !(j = take(o)))
			pthread_cond_wait(&o->work, &o->mu);
		if (o->quit)
			break;
		pthread_mutex_unlock(&o->mu);
		run_job(o, j);
		pthread_mutex_lock(&o->mu);
		j->state = OJOB_DONE;
		pthread_cond_broadcast(&o->done);
	}
	pthread_mutex_unlock(&o->mu);
	return NULL;
}

struct opener *opener_new(const struct chunk_source *src)
{
	struct opener *o = calloc(1, sizeof(*o));
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned want, i;

	if (!o)
		BUG("out of memory");
	o->src = src;
	pthread_mutex_init(&o->mu, NULL);
	pthread_cond_init(&o->work, NULL);
	pthread_cond_init(&o->done, NULL);
	for (i = 0; i < OPENER_JOBS; i++) {
		strbuf_init(&o->jobs[i].blob, 0);
		strbuf_init(&o->jobs[i].plain, 0);
	}
	want = cpus > 1 ? (unsigned)(cpus - 1) : 0;
	if (want > OPENER_MAX_WORKERS)
		want = OPENER_MAX_WORKERS;
	for (i = 0; i < want; i++)
		if (!pthread_create(&o->tid[o->workers], NULL, worker, o))
			o->workers++;
	return o;
}

int opener_full(const struct opener *o)
{
	return o->n == OPENER_JOBS;
}

void opener_submit(struct opener *o, const unsigned char id[BT_ID_BYTES],
		   uint64_t len, uint64_t off)
{
	struct ojob *j;

	if (o->n == OPENER_JOBS)
		BUG("opener_submit on a full opener: drain first");
	j = &o->jobs[o->n];
	memcpy(j->id, id, BT_ID_BYTES);
	j->len = len;
	j->off = off;
	j->ret = 0;
	pthread_mutex_lock(&o->mu);
	j->state = OJOB_WAITING;
	o->n++;
	pthread_cond_signal(&o->work);
	pthread_mutex_unlock(&o->mu);
}

int opener_drain(struct opener *o, opener_fn fn, void *arg)
{
	struct ojob *j;
	size_t i;
	int ret = 0;

	pthread_mutex_lock(&o->mu);
	while ((j = take(o))) {
		pthread_mutex_unlock(&o->mu);
		run_job(o, j);
		pthread_mutex_lock(&o->mu);
		j->state = OJOB_DONE;
	}
	for (i = 0; i < o->n; i++)
		while (o->jobs[i].state != OJOB_DONE)
			pthread_cond_wait(&o->done, &o->mu);
	pthread_mutex_unlock(&o->mu);
	for (i = 0; i < o->n; i++) {
		j = &o->jobs[i];
		if (!ret && j->ret) {
			ret = error_set(j->ret, "%s", j->err);
		} else if (!ret) {
			ret = fn(arg, j->plain.buf, j->plain.len, j->off);
		}
		j->state = OJOB_FREE;
	}
	pthread_mutex_lock(&o->mu);
	o->n = o->next = 0;
	pthread_mutex_unlock(&o->mu);
	return ret;
}

void opener_free(struct opener *o)
{
	unsigned i;

	if (!o)
		return;
	pthread_mutex_lock(&o->mu);
	o->quit = 1;
	pthread_cond_broadcast(&o->work);
	pthread_mutex_unlock(&o->mu);
	for (i = 0; i < o->workers; i++)
		pthread_join(o->tid[i], NULL);
	for (i = 0; i < OPENER_JOBS; i++) {
		strbuf_release(&o->jobs[i].blob);
		strbuf_release(&o->jobs[i].plain);
	}
	pthread_mutex_destroy(&o->mu);
	pthread_cond_destroy(&o->work);
	pthread_cond_destroy(&o->done);
	free(o);
}
