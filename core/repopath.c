/*
 * repopath.c - see repopath.h.
 */
#include <string.h>

#include "error.h"
#include "limits.h"
#include "repopath.h"
#include "banned.h"

/* Printing a hostile path could write escape sequences into a terminal
 * or a log line, so a path is named only when it is printable. */
static int path_error(int code, const char *path, const char *why)
{
	for (const char *p = path; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return error_set(code, "path with control characters: %s",
					 why);
	if (strlen(path) > LIMIT_GIT_PATH_BYTES)
		return error_set(code, "path \"%.64s...\": %s", path, why);
	return error_set(code, "path \"%s\": %s", path, why);
}

int repopath_check(const char *path)
{
	size_t n = strlen(path), depth = 0;
	const char *p;

	if (!n)
		return error_set(FURROW_EINVAL, "empty path");
	if (n > LIMIT_GIT_PATH_BYTES)
		return error_set(FURROW_ELIMIT,
				 "path of %zu bytes exceeds LIMIT_GIT_PATH_BYTES (%u)",
				 n, (unsigned)LIMIT_GIT_PATH_BYTES);
	for (p = path; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return path_error(FURROW_EINVAL, path,
					  "control character");
		/* Git on Windows and some tools treat "\" as a separator:
		 * refusing it keeps one meaning of a path everywhere. */
		if (*p == '\\')
			return path_error(FURROW_EINVAL, path, "backslash");
	}
	if (path[0] == '/')
		return path_error(FURROW_EINVAL, path, "absolute path");
	p = path;
	for (;;) {
		const char *end = strchr(p, '/');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (!len)
			return path_error(FURROW_EINVAL, path, "empty component");
		if ((len == 1 && p[0] == '.') ||
		    (len == 2 && p[0] == '.' && p[1] == '.'))
			return path_error(FURROW_EINVAL, path,
					  "\".\" or \"..\" component");
		if (++depth > LIMIT_GIT_PATH_DEPTH)
			return path_error(FURROW_ELIMIT, path,
					  "more components than LIMIT_GIT_PATH_DEPTH");
		if (!end)
			break;
		p = end + 1;
	}
	return 0;
}

int repopath_next(const char **p, size_t *len)
{
	const char *s = *p, *end;

	while (*s == '/')
		s++;
	if (!*s)
		return 0;
	end = strchr(s, '/');
	*len = end ? (size_t)(end - s) : strlen(s);
	*p = s;
	return 1;
}
