/*
 * error.h - furrow's single error convention.
 *
 * Every fallible function returns 0 on success and a negative FURROW_E*
 * code on failure.  The human-readable message is recorded where the
 * failure happened, with error_set(), and read once by whoever reports it
 * (usually cmd/), with error_message().  Callers may add context in front
 * of a recorded message with error_prefix().
 *
 * The message lives in one per-thread buffer: it is valid until the next
 * error_set()/error_prefix()/error_clear() on the same thread.
 */
#ifndef FURROW_ERROR_H
#define FURROW_ERROR_H

enum furrow_error {
	FURROW_OK = 0,
	FURROW_ERR = -1,       /* generic failure; message says what */
	FURROW_ENOENT = -2,    /* a named thing does not exist */
	FURROW_ELIMIT = -3,    /* a named limit (core/limits.h) was hit */
	FURROW_EBUSY = -4,     /* another furrow holds the lock */
	FURROW_EVERSION = -5,  /* data written by a newer furrow */
	FURROW_ESYNTAX = -6,   /* malformed input (config, data) */
	FURROW_EINVAL = -7,    /* well-formed but invalid value */
	FURROW_EIO = -8,       /* operating-system I/O failure */
	FURROW_EVERIFY = -9,   /* signature or trust check failed */
	FURROW_ETIMEOUT = -10, /* a deadline passed */
	FURROW_ENETFS = -11,   /* state on a network filesystem */
};

#define FURROW_ERROR_MAX 1024 /* bytes of message kept, including NUL */

/* Record a message (printf format) and return code, so that callers can
 * write `return error_set(FURROW_EINVAL, "...")`. */
int error_set(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Like error_set(), appending ": strerror(errno)" of the saved errno. */
int error_errno(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Put "context: " in front of the recorded message; returns code. */
int error_prefix(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The recorded message, or "" if none; never NULL. */
const char *error_message(void);

/* The code recorded with the message (0 if none). */
int error_code(void);

void error_clear(void);

/* A short stable name for a code ("limit", "busy", ...), for logs. */
const char *error_name(int code);

#endif
