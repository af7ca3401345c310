/*
 * backoff.h - exponential backoff with full jitter.
 *
 * The n-th retry waits a uniformly random time in [0, min(cap, base·2^n)]
 * ("full jitter"): a fleet whose server comes back does not return in
 * lock-step, and the expected wait still grows exponentially.
 */
#ifndef FURROW_BACKOFF_H
#define FURROW_BACKOFF_H

struct backoff {
	double base;      /* seconds, the first ceiling */
	double cap;       /* seconds, the largest ceiling */
	unsigned attempt; /* retries so far */
	/* Uniform in [0, 1); NULL means a getrandom()-seeded generator.
	 * Tests inject their own. */
	double (*uniform)(void *arg);
	void *arg;
};

void backoff_init(struct backoff *b, double base, double cap);

/* The ceiling of the next wait: min(cap, base·2^attempt). */
double backoff_ceiling(const struct backoff *b);

/* Seconds to wait before the next try; advances the attempt count. */
double backoff_next(struct backoff *b);

/* Back to the first ceiling, after a success. */
void backoff_reset(struct backoff *b);

#endif
