/*
 * backup_sealer.c - compress and encrypt new chunks on worker threads
 * while the snapshot's own thread reads, cuts and hashes the next ones
 * (backup_int.h: struct sealer).
 *
 * The jobs form a ring: the submitter adds at the tail, workers take
 * waiting jobs in order, and sealed jobs leave at the head, in submit
 * order, through the caller's function.  When the ring is full the
 * submitter seals a waiting job itself (or waits for the oldest), so both
 * cores stay busy and at most SEALER_JOBS chunks (and their sealed copies)
 * are in memory.
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
	/* Counters, not indices: job k lives in jobs[k % SEALER_JOBS]. */
	unsigned long head;        /* oldest job not handed out yet */
	unsigned long take;        /* next job a thread may seal */
	unsigned long tail;        /* next free slot */
	int quit;
	pthread_t tid[SEALER_MAX_WORKERS];
	unsigned workers;
};

#define JOB(s, k) (&(s)->jobs[(k) % SEALER_JOBS])

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

	if (s->take == s->tail)
		return NULL;
	j = JOB(s, s->take++);
	j->state = JOB_RUNNING;
	return j;
}

/* Seal j without the lock, then mark it done (mu held around). */
static void seal_unlocked(struct sealer *s, struct job *j)
{
	pthread_mutex_unlock(&s->mu);
	run_job(s, j);
	pthread_mutex_lock(&s->mu);
	j->state = JOB_DONE;
	pthread_cond_broadcast(&s->done);
}

static void *worker(void *arg)
{
	struct sealer *s = arg;
	struct job *j = NULL;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!s->quit && !(j = take(s)))
			pthread_cond_wait(&s->work, &s->mu);
		if (s->quit)
			break;
		seal_unlocked(s, j);
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
	/* The submitting thread seals too when the ring is full. */
	want = cpus > 1 ? (unsigned)(cpus - 1) : 0;
	if (want > SEALER_MAX_WORKERS)
		want = SEALER_MAX_WORKERS;
	for (i = 0; i < want; i++)
		if (!pthread_create(&s->tid[s->workers], NULL, worker, s))
			s->workers++;
	return s;
}

/* Hand out the sealed jobs at the head, in order (mu held; released
 * around fn).  The first error stops it and is returned. */
static int collect(struct sealer *s, sealer_fn fn, void *arg)
{
	int ret = 0;

	while (!ret && s->head != s->tail && JOB(s, s->head)->state == JOB_DONE) {
		struct job *j = JOB(s, s->head);

		pthread_mutex_unlock(&s->mu);
		ret = j->ret ? error_set(j->ret, "%s", j->err) :
		      fn(arg, j->id, j->blob.buf, j->blob.len);
		pthread_mutex_lock(&s->mu);
		j->state = JOB_FREE;
		s->head++;
	}
	return ret;
}

int sealer_submit(struct sealer *s, const unsigned char id[BT_ID_BYTES],
		  const void *data, size_t len, sealer_fn fn, void *arg)
{
	struct job *j;
	int ret;

	pthread_mutex_lock(&s->mu);
	ret = collect(s, fn, arg);
	while (!ret && s->tail - s->head == SEALER_JOBS) {
		/* Full: seal a waiting job here, else wait for one. */
		if ((j = take(s)))
			seal_unlocked(s, j);
		else
			pthread_cond_wait(&s->done, &s->mu);
		ret = collect(s, fn, arg);
	}
	if (ret) {
		pthread_mutex_unlock(&s->mu);
		return ret;
	}
	j = JOB(s, s->tail);
	pthread_mutex_unlock(&s->mu);
	/* The slot is ours until it is published below; its buffers keep
	 * their size from job to job: no allocation per chunk once warm. */
	memcpy(j->id, id, BT_ID_BYTES);
	strbuf_reset(&j->data);
	strbuf_add(&j->data, data, len);
	j->ret = 0;
	pthread_mutex_lock(&s->mu);
	j->state = JOB_WAITING;
	s->tail++;
	pthread_cond_signal(&s->work);
	pthread_mutex_unlock(&s->mu);
	return 0;
}

int sealer_has(struct sealer *s, const unsigned char id[BT_ID_BYTES])
{
	unsigned long k;
	int found = 0;

	pthread_mutex_lock(&s->mu);
	for (k = s->head; k != s->tail && !found; k++)
		found = !memcmp(JOB(s, k)->id, id, BT_ID_BYTES);
	pthread_mutex_unlock(&s->mu);
	return found;
}

int sealer_drain(struct sealer *s, sealer_fn fn, void *arg)
{
	struct job *j;
	int ret = 0;

	pthread_mutex_lock(&s->mu);
	while (s->head != s->tail) {
		if ((j = take(s)))
			seal_unlocked(s, j);
		else if (JOB(s, s->head)->state != JOB_DONE)
			pthread_cond_wait(&s->done, &s->mu);
		if (!ret)
			ret = collect(s, fn, arg);
		else
			while (s->head != s->tail &&
			       JOB(s, s->head)->state == JOB_DONE)
				JOB(s, s->head++)->state = JOB_FREE;
	}
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
