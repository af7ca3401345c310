/*
 * repopath.h - the rules for a path into a Git tree, kept apart from
 * libgit2 so they can be tested and fuzzed on their own.
 *
 * A valid path is relative, at most LIMIT_GIT_PATH_BYTES long with at most
 * LIMIT_GIT_PATH_DEPTH components, has no empty, "." or ".." component,
 * no backslash and no control character.  Symlinks and gitlinks are the
 * tree walker's business (core/gitsync.c), not this file's.
 */
#ifndef FURROW_REPOPATH_H
#define FURROW_REPOPATH_H

#include <stddef.h>

/*
 * Check path against the rules above.  Returns 0, or FURROW_EINVAL /
 * FURROW_ELIMIT with a message naming the path (or, when the path itself
 * holds control characters, saying so without printing it).
 */
int repopath_check(const char *path);

/*
 * Iterate over the components of a checked path:
 *
 *   const char *p = path; size_t len;
 *   while (repopath_next(&p, &len)) ... p[0..len) ... p += len;
 *
 * Returns 1 with *p at the next component and *len its length, or 0 at
 * the end.
 */
int repopath_next(const char **p, size_t *len);

#endif
