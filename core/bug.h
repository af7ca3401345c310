/*
 * bug.h - fatal paths for broken invariants and out-of-memory, and the
 * checked allocators.  Anything a user or the network can cause is an
 * error (error.h), never one of these.
 */
#ifndef FURROW_BUG_H
#define FURROW_BUG_H

#include <stddef.h>

#define BUG(...) bug_fl(__FILE__, __LINE__, __VA_ARGS__)

__attribute__((noreturn, format(printf, 3, 4)))
void bug_fl(const char *file, int line, const char *fmt, ...);

/* Allocate or die: these never return NULL.  Free with free(). */
void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Allocate count*size with an overflow check. */
void *xmallocarray(size_t count, size_t size);

#endif
