/*
 * test_backoff.c - full-jitter exponential backoff.
 */
#include "backoff.h"
#include "tap.h"

static double fixed(void *arg)
{
	return *(double *)arg;
}

int main(void)
{
	struct backoff b;
	double u = 0.999999, sum = 0, w;
	int within = 1;

	backoff_init(&b, 1.0, 30.0);
	b.uniform = fixed;
	b.arg = &u;
	is_int((long long)(backoff_ceiling(&b) * 1000), 1000, "first ceiling is base");
	for (int i = 0; i < 4; i++)
		backoff_next(&b);
	is_int((long long)(backoff_ceiling(&b) * 1000), 16000, "ceiling doubles per attempt");
	backoff_next(&b);
	is_int((long long)(backoff_ceiling(&b) * 1000), 30000, "ceiling stops at the cap");
	for (int i = 0; i < 1000; i++)
		backoff_next(&b);
	is_int((long long)(backoff_ceiling(&b) * 1000), 30000,
	       "no overflow after many attempts");
	w = backoff_next(&b);
	ok(w > 29.9 && w < 30.0, "a wait is the ceiling times the uniform draw (%g)", w);
	u = 0;
	ok(backoff_next(&b) == 0, "the draw can be zero: full jitter");
	backoff_reset(&b);
	is_int((long long)(backoff_ceiling(&b) * 1000), 1000, "reset returns to base");

	/* The real generator: every wait within its ceiling, mean near half. */
	backoff_init(&b, 8.0, 8.0);
	for (int i = 0; i < 10000; i++) {
		w = backoff_next(&b);
		if (w < 0 || w >= 8.0)
			within = 0;
		sum += w;
	}
	ok(within, "system draws stay within [0, ceiling)");
	ok(sum / 10000 > 3.6 && sum / 10000 < 4.4, "system draws are spread (mean %.2f of 8)",
	   sum / 10000);
	return tap_done();
}
