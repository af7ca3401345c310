/*
 * exec_busy.h - execve() that waits out ETXTBSY.
 *
 * A file furrow has just written (a service's script in a new slot) can
 * still be open for writing in a child that another thread forked while
 * it was being written: fork copies every descriptor, and close-on-exec
 * closes them only at that child's own execve.  An execve of the file in
 * that window fails with ETXTBSY ("Text file busy").  The window is the
 * other child's way from fork to exec (microseconds; longer on a loaded
 * host), so try again for up to about a second.
 *
 * Runs between fork and exec: async-signal-safe calls only.  Returns only
 * on failure, with errno set.
 */
#ifndef FURROW_EXEC_BUSY_H
#define FURROW_EXEC_BUSY_H

#include <errno.h>
#include <time.h>
#include <unistd.h>

#define EXEC_BUSY_TRIES 200
#define EXEC_BUSY_PAUSE_NS (5L * 1000 * 1000)

static inline void execve_waiting_busy(const char *path, char *const argv[],
				       char *const envp[])
{
	struct timespec pause = { 0, EXEC_BUSY_PAUSE_NS };
	int tries;

	for (tries = 0; tries < EXEC_BUSY_TRIES; tries++) {
		execve(path, argv, envp);
		if (errno != ETXTBSY)
			return;
		nanosleep(&pause, NULL);
	}
}

#endif
