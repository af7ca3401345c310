/*
 * child.h - run a piece of work in a child process that cannot hurt the
 * parent: dropped privileges, no_new_privs, rlimits, a wall-clock
 * deadline enforced by the parent with SIGKILL, and output handed back
 * over a pipe as bounded, length-prefixed bytes.
 *
 * This is furrow's privilege seam: untrusted input (Lua, fetched data)
 * is processed here, never in the process that holds the state store.
 * The child must not touch LMDB (core/store.h: no use after fork()).
 */
#ifndef FURROW_CHILD_H
#define FURROW_CHILD_H

#include <stddef.h>

#include "strbuf.h"

struct child_limits {
	unsigned milliseconds;  /* wall clock, then SIGKILL */
	size_t output_bytes;    /* most the parent will read */
	size_t memory_bytes;    /* RLIMIT_AS (not under AddressSanitizer) */
	size_t file_bytes;      /* RLIMIT_FSIZE: largest file it may write */
	/* 0: RLIMIT_NPROC 0, no new processes or threads at all.  libgit2
	 * starts threads (pack indexing, local transport), so git work sets
	 * this; the per-user count would otherwise refuse them. */
	int threads;
	/* RLIMIT_NOFILE; 0 means LIMIT_CHILD_OPEN_FILES (enough for Lua,
	 * which opens nothing).  git work needs more: packs, indexes. */
	unsigned open_files;
};

/* Runs in the child; fills out with the result bytes. */
typedef void (*child_fn)(struct strbuf *out, void *arg);

/*
 * Fork, drop privileges (to uid/gid 65534 when running as root), set
 * rlimits (CPU, address space, file size, and no new processes unless
 * threads is set), run fn and send
 * what it wrote back.  On success out holds exactly those bytes.  Returns
 * FURROW_ELIMIT for the deadline, the output cap or a child killed by a
 * resource limit (the message names `what` and the limit), FURROW_ERR if
 * the child crashed or exited abnormally, FURROW_EIO if fork or pipe
 * failed.
 */
int child_run(struct strbuf *out, const char *what, child_fn fn, void *arg,
	      const struct child_limits *limits);

#endif
