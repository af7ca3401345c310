/*
 * gitsync.h - fetching desired state with libgit2.
 *
 * core/gitsync.c is the only file that includes <git2.h>.  The fetch,
 * the object-database reader and the transports arrive with the sync
 * work; for now it reports the linked libgit2.
 */
#ifndef FURROW_GITSYNC_H
#define FURROW_GITSYNC_H

/* "1.5.1", as reported by the linked libgit2 at run time. */
const char *gitsync_libgit2_version(void);

#endif
