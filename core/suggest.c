/*
 * suggest.c - see suggest.h.
 */
#include <stdint.h>
#include <string.h>

#include "suggest.h"
#include "banned.h"

size_t suggest_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[64], i, j, prev, cur;

	if (lb >= sizeof(row) / sizeof(*row))
		return SIZE_MAX;
	/* The distance is at least the difference in length. */
	if (la > lb + 3)
		return SIZE_MAX;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			cur = row[j];
			row[j] = a[i - 1] == b[j - 1] ? prev :
				 1 + (prev < row[j - 1] ?
				      (prev < row[j] ? prev : row[j]) :
				      (row[j - 1] < row[j] ? row[j - 1] : row[j]));
			prev = cur;
		}
	}
	return row[lb];
}

const char *suggest_pick(const char *word, const char *const *words,
			 size_t n)
{
	const char *best = NULL;
	size_t best_d = SUGGEST_MAX_DISTANCE + 1;

	for (size_t i = 0; i < n; i++) {
		size_t d = suggest_distance(word, words[i]);

		if (d < best_d) {
			best_d = d;
			best = words[i];
		}
	}
	return best;
}
