/*
 * backoff.c - see backoff.h.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/random.h>

#include "backoff.h"
#include "banned.h"

static double system_uniform(void *arg)
{
	uint64_t r = 0;

	(void)arg;
	/* A failed getrandom leaves r at 0: no wait beats a crash here. */
	if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
		r = 0;
	return (double)(r >> 11) / 9007199254740992.0; /* 53 bits / 2^53 */
}

void backoff_init(struct backoff *b, double base, double cap)
{
	b->base = base;
	b->cap = cap;
	b->attempt = 0;
	b->uniform = system_uniform;
	b->arg = NULL;
}

double backoff_ceiling(const struct backoff *b)
{
	/* 2^60 already dwarfs any cap; stop the exponent there. */
	double c = b->base * ldexp(1.0, b->attempt < 60 ? (int)b->attempt : 60);

	return c < b->cap ? c : b->cap;
}

double backoff_next(struct backoff *b)
{
	double wait = backoff_ceiling(b) * b->uniform(b->arg);

	if (b->attempt < UINT32_MAX)
		b->attempt++;
	return wait;
}

void backoff_reset(struct backoff *b)
{
	b->attempt = 0;
}
