/*
 * test_workring.c - the worker ring behind backup sealing and opening:
 * results in submit order whatever order the workers finish in, the first
 * error (a job's or the done function's) stops the hand-back and is
 * returned with its message, a drain leaves the ring clean for reuse,
 * find sees exactly the jobs in flight.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "tap.h"
#include "workring.h"

struct job {
	unsigned n;
	uint64_t in, out;
};

struct ctx {
	unsigned fail_at;          /* job number whose run fails; 0: none */
	int gate_closed;           /* runs wait while set */
};

/* Some work of varying length, so workers overtake each other. */
static int run(void *arg, void *job)
{
	struct ctx *c = arg;
	struct job *j = job;
	uint64_t x = j->in;
	unsigned i, rounds = 1000u + (unsigned)(j->in * 2654435761u % 50000u);

	while (__atomic_load_n(&c->gate_closed, __ATOMIC_ACQUIRE)) {
		struct timespec ts = { 0, 1000000 };

		nanosleep(&ts, NULL);
	}
	for (i = 0; i < rounds; i++)
		x = x * 6364136223846793005ull + 1442695040888963407ull;
	if (j->in % 7 == 3) {
		struct timespec ts = { 0, 200000 };

		nanosleep(&ts, NULL);
	}
	j->out = x;
	if (c->fail_at && j->n == c->fail_at)
		return error_set(FURROW_EIO, "job %u failed on purpose", j->n);
	return 0;
}

static uint64_t expected(uint64_t in)
{
	uint64_t x = in;
	unsigned i, rounds = 1000u + (unsigned)(in * 2654435761u % 50000u);

	for (i = 0; i < rounds; i++)
		x = x * 6364136223846793005ull + 1442695040888963407ull;
	return x;
}

struct seen {
	unsigned next;             /* the job number expected next */
	unsigned bad_order, bad_value;
	unsigned fail_at;          /* done fails on this job; 0: never */
};

static int done(void *arg, void *job)
{
	struct seen *s = arg;
	struct job *j = job;

	if (j->n != s->next)
		s->bad_order++;
	if (j->out != expected(j->in))
		s->bad_value++;
	s->next = j->n + 1;
	if (s->fail_at && j->n == s->fail_at)
		return error_set(FURROW_ELIMIT, "done refused job %u", j->n);
	return 0;
}

static int submit(struct workring *w, struct seen *s, unsigned n)
{
	struct job *j;
	int ret;

	if (!(j = workring_slot(w, done, s, &ret)))
		return ret;
	j->n = n;
	j->in = (uint64_t)n * 977u + 13u;
	j->out = 0;
	workring_publish(w);
	return 0;
}

static void test_order(void)
{
	struct ctx c = { 0 };
	struct workring *w = workring_new(8, sizeof(struct job), run, &c,
					  NULL, NULL);
	struct seen s = { 1, 0, 0, 0 };
	unsigned n;
	int ret = 0;

	ok(w != NULL, "a ring of 8");
	for (n = 1; n <= 2000 && !ret; n++)
		ret = submit(w, &s, n);
	is_int(ret, 0, "2000 jobs submitted");
	is_int(workring_drain(w, done, &s), 0, "drained");
	is_int(s.next, 2001, "every job handed back once");
	is_int(s.bad_order, 0, "in submit order");
	is_int(s.bad_value, 0, "each with its own result");
	/* Reused after a drain. */
	for (n = 2001, ret = 0; n <= 2010 && !ret; n++)
		ret = submit(w, &s, n);
	is_int(workring_drain(w, done, &s) | ret, 0, "and again after a drain");
	is_int(s.next, 2011, "ten more, in order");
	workring_free(w);
}

static void test_job_error(void)
{
	struct ctx c = { 50, 0 };
	struct workring *w = workring_new(8, sizeof(struct job), run, &c,
					  NULL, NULL);
	struct seen s = { 1, 0, 0, 0 };
	unsigned n, stopped = 0;
	int ret = 0;

	for (n = 1; n <= 200; n++)
		if ((ret = submit(w, &s, n))) {
			stopped = n;
			break;
		}
	is_int(ret, FURROW_EIO, "a job's error comes back from a later submit");
	ok(stopped > 50 && stopped <= 50 + 8 + 1,
	   "no later than a ring's length after it (at %u)", stopped);
	is_str(error_message(), "job 50 failed on purpose", "with its message");
	is_int(s.next, 50, "jobs before it were handed back, not it");
	error_clear();
	is_int(workring_drain(w, done, &s), FURROW_EIO,
	       "the drain returns the same first error");
	is_str(error_message(), "job 50 failed on purpose", "same message");
	is_int(s.next, 50, "and hands back nothing after it");
	c.fail_at = 0;
	s.next = 1000;
	for (n = 1000, ret = 0; n < 1020 && !ret; n++)
		ret = submit(w, &s, n);
	is_int(workring_drain(w, done, &s) | ret, 0,
	       "after the drain the ring works again");
	is_int(s.next, 1020, "every new job handed back");
	workring_free(w);
}

static void test_done_error(void)
{
	struct ctx c = { 0 };
	struct workring *w = workring_new(4, sizeof(struct job), run, &c,
					  NULL, NULL);
	struct seen s = { 1, 0, 0, 30 };
	unsigned n;
	int ret = 0;

	for (n = 1; n <= 100 && !ret; n++)
		ret = submit(w, &s, n);
	is_int(ret, FURROW_ELIMIT, "done's error comes back from submit");
	is_str(error_message(), "done refused job 30", "with done's message");
	is_int(workring_drain(w, done, &s), FURROW_ELIMIT, "and from the drain");
	is_int(s.next, 31, "done saw nothing after the job it refused");
	is_int(s.bad_order, 0, "what it saw was in order");
	workring_free(w);
}

static int same_n(const void *job, const void *key)
{
	return ((const struct job *)job)->n == *(const unsigned *)key;
}

static void test_find(void)
{
	struct ctx c = { 0, 1 };
	struct workring *w = workring_new(16, sizeof(struct job), run, &c,
					  NULL, NULL);
	struct seen s = { 1, 0, 0, 0 };
	unsigned n, k;
	int ret = 0;

	for (n = 1; n <= 5 && !ret; n++)
		ret = submit(w, &s, n);
	/* The runs wait at the gate and sixteen slots leave the submitter
	 * no reason to run one: nothing is handed back yet. */
	for (k = 1, n = 0; k <= 5; k++)
		n += (unsigned)workring_find(w, same_n, &k);
	is_int(n, 5, "the five jobs in flight are found");
	k = 6;
	ok(!workring_find(w, same_n, &k), "a job never submitted is not");
	__atomic_store_n(&c.gate_closed, 0, __ATOMIC_RELEASE);
	is_int(workring_drain(w, done, &s), 0, "drained");
	k = 3;
	ok(!workring_find(w, same_n, &k), "nor one handed back");
	workring_free(w);
}

static unsigned inits, releases;
static void count_init(void *job) { (void)job; inits++; }
static void count_release(void *job) { (void)job; releases++; }

static void test_free_busy(void)
{
	struct ctx c = { 0 };
	struct workring *w = workring_new(8, sizeof(struct job), run, &c,
					  count_init, count_release);
	struct seen s = { 1, 0, 0, 0 };
	unsigned n;

	is_int(inits, 8, "each slot prepared once");
	for (n = 1; n <= 8; n++)
		(void)submit(w, &s, n);
	/* Freed with jobs in flight: workers stop after their current one. */
	workring_free(w);
	is_int(releases, 8, "each slot released once, with jobs in flight");
	workring_free(NULL);
	ok(1, "workring_free(NULL) is a no-op");
}

int main(void)
{
	test_order();
	test_job_error();
	test_done_error();
	test_find();
	test_free_busy();
	return tap_done();
}
