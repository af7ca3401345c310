/*
 * gitsync.c - see gitsync.h.
 */
#include <stdio.h>

#include <git2.h>

#include "gitsync.h"
#include "banned.h"

const char *gitsync_libgit2_version(void)
{
	static char buf[32];
	int major, minor, rev;

	if (!buf[0]) {
		git_libgit2_version(&major, &minor, &rev);
		snprintf(buf, sizeof(buf), "%d.%d.%d", major, minor, rev);
	}
	return buf;
}
