/*
 * control_int.h - line I/O with deadlines on a unix stream socket,
 * shared by the daemon side (control.c) and the CLI side
 * (control_client.c) of the control socket.  Not for other callers.
 *
 * Descriptors are non-blocking; every wait is a poll() against a
 * deadline in milliseconds of control_now_ms(), so no peer can hold the
 * other side longer than it chose.  These return errno-style results
 * and record no message: the callers know what to name.
 */
#ifndef FURROW_CONTROL_INT_H
#define FURROW_CONTROL_INT_H

#include <stddef.h>
#include <sys/un.h>

#include "strbuf.h"

enum control_line {
	CONTROL_LINE_OK,      /* a line, without its "\n" or "\r\n" */
	CONTROL_LINE_EOF,     /* the peer closed; buf holds what came first */
	CONTROL_LINE_LONG,    /* max bytes without a newline */
	CONTROL_LINE_TIMEOUT, /* the deadline passed */
	CONTROL_LINE_ERR,     /* a socket error, in errno */
};

/* CLOCK_MONOTONIC in milliseconds: the clock of every deadline. */
long long control_now_ms(void);

/* Wait until fd is ready for events or the deadline passes.  Returns 1
 * ready, 0 timed out (errno ETIMEDOUT), -1 error (errno set). */
int control_wait_fd(int fd, short events, long long deadline);

/* Send all len bytes before the deadline, MSG_NOSIGNAL.  Returns 0, or
 * -1 with errno set (ETIMEDOUT for the deadline, EPIPE for a peer that
 * left). */
int control_send_all(int fd, const char *buf, size_t len, long long deadline);

/* Read one line of at most max bytes, newline included, into buf (which
 * holds max + 1), NUL-terminated. */
enum control_line control_read_line(int fd, char *buf, size_t max,
				    long long deadline);

/* 1 if s holds a control character (below 0x20, or 0x7f). */
int control_has_cntrl(const char *s);

/* STATE_DIR/control.sock into *sa and path (appended).  Returns 0, or
 * FURROW_ELIMIT with the message recorded if it does not fit sun_path. */
int control_socket_addr(struct sockaddr_un *sa, struct strbuf *path,
			const char *state_dir);

#endif
