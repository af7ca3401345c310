/*
 * workring.h - a few worker threads over a ring of job slots, the results
 * handed back in submit order.
 *
 * The backup code's two pipelines use it: a snapshot seals new chunks
 * (compress, encrypt) while its own thread reads and cuts the next ones,
 * and a restore opens chunks (fetch, decrypt, decompress, check) while its
 * own thread writes the ones before them.
 *
 * A job is a caller-defined struct of job_size bytes living in a slot;
 * slots are reused, so their buffers keep their size from job to job.  The
 * submitter asks for a free slot, fills it and publishes it; workers run
 * published jobs in order; finished jobs leave at the head, in order,
 * through the caller's done function, on the submitter's thread.  When
 * every slot is busy the submitter runs a waiting job itself (or waits for
 * the oldest), so all cores stay busy and at most njobs jobs are in memory.
 *
 * Errors: run returns 0 or a negative FURROW_E* code with a message
 * (error_set() on the worker's thread); the ring keeps that message and
 * hands it back as the error of that job, in order.  The first error (a
 * job's or done's) is returned by workring_slot() and workring_drain();
 * after it, done is not called again and finished jobs are dropped.
 */
#ifndef FURROW_WORKRING_H
#define FURROW_WORKRING_H

#include <stddef.h>

#define WORKRING_MAX_WORKERS 4

struct workring;

/* Run one job (any thread, without the ring's lock). */
typedef int (*workring_run_fn)(void *ctx, void *job);
/* A finished job, in submit order, on the submitter's thread. */
typedef int (*workring_done_fn)(void *arg, void *job);

/*
 * njobs slots of job_size zeroed bytes; init (may be NULL) prepares each
 * slot once (e.g. strbuf_init), release undoes it at workring_free().
 * Workers: one fewer than the online CPUs (the submitter works too), at
 * most WORKRING_MAX_WORKERS; none on one CPU.  NULL when out of memory.
 */
struct workring *workring_new(unsigned njobs, size_t job_size,
			      workring_run_fn run, void *ctx,
			      void (*init)(void *job),
			      void (*release)(void *job));

/*
 * A free slot for the next job, after handing the finished jobs at the
 * head to done.  The slot is the caller's until workring_publish().  NULL
 * and *ret set on the first error.
 */
void *workring_slot(struct workring *w, workring_done_fn done, void *arg,
		    int *ret);
void workring_publish(struct workring *w);

/* Run or wait for every published job and hand each to done. */
int workring_drain(struct workring *w, workring_done_fn done, void *arg);

/* 1 if a published job not handed back yet satisfies match(job, key). */
int workring_find(struct workring *w,
		  int (*match)(const void *job, const void *key),
		  const void *key);

/* Stops the workers (after their current job); NULL is fine. */
void workring_free(struct workring *w);

#endif
