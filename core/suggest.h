/*
 * suggest.h - "did you mean" for misspelled keys and names.
 *
 * Shared by the agent config (core/config.c) and app specs
 * (core/appspec.c), so a typo is answered the same way everywhere.
 */
#ifndef FURROW_SUGGEST_H
#define FURROW_SUGGEST_H

#include <stddef.h>

/* Suggestions are offered up to this many edits away. */
#define SUGGEST_MAX_DISTANCE 2

/*
 * The Levenshtein distance between a and b, or SIZE_MAX when it is
 * clearly too large to matter (b of 64 bytes or more, or a more than
 * three bytes longer than b), which keeps the cost bounded for hostile
 * input.
 */
size_t suggest_distance(const char *a, const char *b);

/*
 * The word of words[0..n) closest to word, if at most
 * SUGGEST_MAX_DISTANCE edits away (the first of equals), else NULL.
 * The result points into words.
 */
const char *suggest_pick(const char *word, const char *const *words,
			 size_t n);

#endif
