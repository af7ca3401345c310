/*
 * monoclock.c - see monoclock.h.
 */
#include <time.h>

#include "monoclock.h"
#include "banned.h"

double monoclock_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
