/*
 * error.c - the per-thread error message buffer (see error.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "banned.h"

static _Thread_local char error_buf[FURROW_ERROR_MAX];
static _Thread_local int error_last_code;

__attribute__((format(printf, 1, 0)))
static void error_vrecord(const char *fmt, va_list ap)
{
	vsnprintf(error_buf, sizeof(error_buf), fmt, ap);
}

int error_set(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	error_vrecord(fmt, ap);
	va_end(ap);
	error_last_code = code;
	return code;
}

int error_errno(int code, const char *fmt, ...)
{
	int saved = errno;
	size_t used;
	va_list ap;

	va_start(ap, fmt);
	error_vrecord(fmt, ap);
	va_end(ap);
	used = strlen(error_buf);
	snprintf(error_buf + used, sizeof(error_buf) - used, ": %s",
		 strerror(saved));
	error_last_code = code;
	errno = saved;
	return code;
}

int error_prefix(int code, const char *fmt, ...)
{
	char old[FURROW_ERROR_MAX];
	size_t used;
	va_list ap;

	memcpy(old, error_buf, sizeof(old));
	va_start(ap, fmt);
	error_vrecord(fmt, ap);
	va_end(ap);
	used = strlen(error_buf);
	/* Append ": old", cut to fit: a long message loses its tail. */
	if (old[0] && used + 2 < sizeof(error_buf)) {
		size_t room = sizeof(error_buf) - used - 3, n = strlen(old);

		memcpy(error_buf + used, ": ", 2);
		if (n > room)
			n = room;
		memcpy(error_buf + used + 2, old, n);
		error_buf[used + 2 + n] = '\0';
	}
	error_last_code = code;
	return code;
}

const char *error_message(void)
{
	return error_buf;
}

int error_code(void)
{
	return error_last_code;
}

void error_clear(void)
{
	error_buf[0] = '\0';
	error_last_code = 0;
}

const char *error_name(int code)
{
	switch (code) {
	case FURROW_OK: return "ok";
	case FURROW_ENOENT: return "not-found";
	case FURROW_ELIMIT: return "limit";
	case FURROW_EBUSY: return "busy";
	case FURROW_EVERSION: return "version";
	case FURROW_ESYNTAX: return "syntax";
	case FURROW_EINVAL: return "invalid";
	case FURROW_EIO: return "io";
	case FURROW_EVERIFY: return "verify";
	case FURROW_ETIMEOUT: return "timeout";
	case FURROW_ENETFS: return "network-fs";
	default: return "error";
	}
}
