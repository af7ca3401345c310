/*
 * monoclock.h - seconds on the monotonic clock, as a double: deadlines,
 * backoff and intervals that must not jump with the wall clock.
 */
#ifndef FURROW_MONOCLOCK_H
#define FURROW_MONOCLOCK_H

/* CLOCK_MONOTONIC in seconds. */
double monoclock_now(void);

#endif
