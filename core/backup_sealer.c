/*
 * backup_sealer.c - compress and encrypt new chunks on worker threads
 * while the snapshot's own thread reads, cuts and hashes the next ones
 * (backup_int.h: struct sealer).
 *
 * Jobs sit in a fixed array; workers take them in order; when the array
 * is full the submitter drains it: it seals what is still waiting itself,
 * waits for the rest, and hands every result to the caller in submit
 * order.  So at most SEALER_JOBS chunks (and their sealed copies) are in
 * memory, and results are deterministic in order.
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

#define SEALER_MAX_WORKERS 4

enum job_state { JOB_FREE, JOB_WAITING, JOB_RUNNING, JOB_DONE };

struct job {
	enum job_state state;
	unsigned char id[BT_ID_BYTES];
	struct strbuf data;
	struct strbuf blob;
	struct strbuf scratch;
	int ret;
	char err[256];
};

struct sealer {
	const struct backup_key *key;
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	struct job jobs[SEALER_JOBS];
	size_t n;                  /* jobs submitted since the last drain */
	size_t next;               /* the next job a thread may take */
	int quit;
	pthread_t tid[SEALER_MAX_WORKERS];
	unsigned workers;
};

static void run_job(struct sealer *s, struct job *j)
{
	j->ret = chunk_seal(s->key, j->id, j->data.buf, j->data.len, &j->blob,
			    &j->scratch);
	if (j->ret)
		snprintf(j->err, sizeof(j->err), "%s", error_message());
}

/* Take the next waiting job (mu held); NULL if none. */
static struct job *take(struct sealer *s)
{
	struct job *j;

	if (s->next >= s->n)
		return NULL;
	j = &s->jobs[s->next++];
	j->state = JOB_RUNNING;
	return j;
}

static void *worker(void *arg)
{
	struct sealer *s = arg;
	struct job *j;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!s->quit && !(j = take(s)))
			pthread_cond_wait(&s->work, &s->mu);
		if (s->quit)
			break;
		pthread_mutex_unlock(&s->mu);
		run_job(s, j);
		pthread_mutex_lock(&s->mu);
		j->state = JOB_DONE;
		pthread_cond_broadcast(&s->done);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

struct sealer *sealer_new(const struct backup_key *key)
{
	struct sealer *s = calloc(1, sizeof(*s));
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned want, i;

	if (!s)
		return NULL;
	s->key = key;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->work, NULL);
	pthread_cond_init(&s->done, NULL);
	for (i = 0; i < SEALER_JOBS; i++) {
		strbuf_init(&s->jobs[i].data, 0);
		strbuf_init(&s->jobs[i].blob, 0);
		strbuf_init(&s->jobs[i].scratch, 0);
	}
	/* The submitting thread seals too while it drains. */
	want = cpus > 1 ? (unsigned)(cpus - 1) : 0;
	if (want > SEALER_MAX_WORKERS)
		want = SEALER_MAX_WORKERS;
	for (i = 0; i < want; i++)
		if (!pthread_create(&s->tid[s->workers], NULL, worker, s))
			s->workers++;
	return s;
}

int sealer_full(const struct sealer *s)
{
	return s->n == SEALER_JOBS;
}

void sealer_submit(struct sealer *s, const unsigned char id[BT_ID_BYTES],
		   const void *data, size_t len)
{
	struct job *j;

	if (s->n == SEALER_JOBS)
		BUG("sealer_submit on a full sealer: drain first");
	j = &s->jobs[s->n];
	memcpy(j->id, id, BT_ID_BYTES);
	/* The buffers keep their size from job to job: no allocation per
	 * chunk once warm. */
	strbuf_reset(&j->data);
	strbuf_add(&j->data, data, len);
	j->ret = 0;
	pthread_mutex_lock(&s->mu);
	j->state = JOB_WAITING;
	s->n++;
	pthread_cond_signal(&s->work);
	pthread_mutex_unlock(&s->mu);
}

int sealer_drain(struct sealer *s, sealer_fn fn, void *arg)
{
	struct job *j;
	size_t i;
	int ret = 0;

	/* Help: seal what no worker has taken yet. */
	pthread_mutex_lock(&s->mu);
	while ((j = take(s))) {
		pthread_mutex_unlock(&s->mu);
		run_job(s, j);
		pthread_mutex_lock(&s->mu);
		j->state = JOB_DONE;
	}
	for (i = 0; i < s->n; i++)
		while (s->jobs[i].state != JOB_DONE)
			pthread_cond_wait(&s->done, &s->mu);
	pthread_mutex_unlock(&s->mu);
	for (i = 0; i < s->n; i++) {
		j = &s->jobs[i];
		if (!ret && j->ret)
			ret = error_set(j->ret, "%s", j->err);
		else if (!ret)
			ret = fn(arg, j->id, j->blob.buf, j->blob.len);
		j->state = JOB_FREE;
	}
	pthread_mutex_lock(&s->mu);
	s->n = s->next = 0;
	pthread_mutex_unlock(&s->mu);
	return ret;
}

void sealer_free(struct sealer *s)
{
	unsigned i;

	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->quit = 1;
	pthread_cond_broadcast(&s->work);
	pthread_mutex_unlock(&s->mu);
	for (i = 0; i < s->workers; i++)
		pthread_join(s->tid[i], NULL);
	for (i = 0; i < SEALER_JOBS; i++) {
		strbuf_release(&s->jobs[i].data);
		strbuf_release(&s->jobs[i].blob);
		strbuf_release(&s->jobs[i].scratch);
	}
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->work);
	pthread_cond_destroy(&s->done);
	free(s);
}
