/*
 * updlock.c - see updlock.h.
 *
 * The reader is deliberately forgiving about what it cannot parse (a
 * malformed lock is held, with a problem to show) and strict about what
 * it opens: the lock lives in a directory the app writes, so a symbolic
 * link or a FIFO planted there must neither be followed nor block the
 * daemon.  The writer relies on file_write_atomic() creating its
 * temporary file exclusively under a fresh name, for the same reason: a
 * symbolic link the app placed must not make furrow truncate another
 * file.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "fileutil.h"
#include "limits.h"
#include "strbuf.h"
#include "updlock.h"
#include "banned.h"

_Static_assert(LIMIT_UPDLOCK_REASON_BYTES <
	       sizeof(((struct updlock *)0)->reason),
	       "the reason limit must fit struct updlock");

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static int is_control(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/*
 * "<path>: <what>" into out->problem, and the lock held with no expiry.
 * A long path loses its head, not the explanation.
 */
__attribute__((format(printf, 3, 4)))
static void set_problem(struct updlock *out, const char *path,
			const char *fmt, ...)
{
	char what[160];
	size_t room, n = strlen(path);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	room = sizeof(out->problem) - 1 - strlen(what) - 2;
	if (n <= room)
		snprintf(out->problem, sizeof(out->problem), "%s: %s", path,
			 what);
	else
		snprintf(out->problem, sizeof(out->problem), "...%s: %s",
			 path + n - (room - 3), what);
	out->held = 1;
	out->until = 0;
	out->reason[0] = '\0';
}

/* The reason: s[0..len) trimmed, control characters replaced, cut at
 * the limit on a UTF-8 character boundary. */
static void copy_reason(char *dst, const char *s, size_t len)
{
	size_t n;

	while (len && is_blank(*s)) {
		s++;
		len--;
	}
	n = len < LIMIT_UPDLOCK_REASON_BYTES ? len : LIMIT_UPDLOCK_REASON_BYTES;
	if (n < len)
		while (n && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	while (n && is_blank(s[n - 1]))
		n--;
	for (size_t i = 0; i < n; i++)
		dst[i] = is_control((unsigned char)s[i]) ? '?' : s[i];
	dst[n] = '\0';
}

/*
 * Parse the first line of buf into out.  Returns NULL, or what is wrong
 * with the line (out is then left for set_problem()).
 */
const char *updlock_parse(struct updlock *out, const char *buf, size_t len,
			  long long now)
{
	const char *nl = memchr(buf, '\n', len);
	const char *p = buf, *end = nl ? nl : buf + len;
	long long v = 0;

	if (len == 0)
		return "lock file is empty";
	while (p < end && is_blank(*p))
		p++;
	if (p == end)
		return "no expiry on the first line";
	if (*p == '-')
		return "expiry is negative";
	if (*p < '0' || *p > '9')
		return "the first line must start with the expiry in epoch "
		       "seconds";
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		int d = *p - '0';

		if (v > (LLONG_MAX - d) / 10)
			return "expiry is out of range";
		v = v * 10 + d;
	}
	if (p < end && !is_blank(*p))
		return "expiry is not a decimal number of seconds";
	out->until = v;
	out->held = v > now;
	copy_reason(out->reason, p, (size_t)(end - p));
	return NULL;
}

int updlock_check(struct updlock *out, const char *path, long long now)
{
	char buf[LIMIT_UPDLOCK_BYTES + 1];
	const char *why;
	size_t len = 0;
	struct stat st;
	int fd;

	if (!out || !path)
		return error_set(FURROW_EINVAL, "updlock_check: no %s",
				 out ? "path" : "result");
	memset(out, 0, sizeof(*out));
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
		  O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		if (errno == ELOOP)
			set_problem(out, path, "is a symbolic link; a lock "
				    "must be a regular file");
		else
			set_problem(out, path, "cannot open: %s",
				    strerror(errno));
		return 0;
	}
	if (fstat(fd, &st) < 0) {
		set_problem(out, path, "cannot stat: %s", strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		set_problem(out, path, "is a %s; a lock must be a regular file",
			    S_ISDIR(st.st_mode) ? "directory" :
			    S_ISFIFO(st.st_mode) ? "FIFO" :
			    S_ISSOCK(st.st_mode) ? "socket" : "device");
		goto out;
	}
	/* Read one byte past the limit: the size may change under us. */
	while (len < sizeof(buf)) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			set_problem(out, path, "cannot read: %s",
				    strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > LIMIT_UPDLOCK_BYTES)
		set_problem(out, path, "lock file is larger than %u bytes "
			    "(LIMIT_UPDLOCK_BYTES)", LIMIT_UPDLOCK_BYTES);
	else if ((why = updlock_parse(out, buf, len, now)))
		set_problem(out, path, "%s", why);
out:
	close(fd);
	return 0;
}

static int check_reason(const char *reason)
{
	size_t n = strlen(reason);

	for (size_t i = 0; i < n; i++)
		if (is_control((unsigned char)reason[i]))
			return error_set(FURROW_EINVAL, "update lock reason "
					 "must be one line of printable "
					 "text");
	if (n > LIMIT_UPDLOCK_REASON_BYTES)
		return error_set(FURROW_ELIMIT, "update lock reason is %zu "
				 "bytes, more than the %u allowed "
				 "(LIMIT_UPDLOCK_REASON_BYTES)", n,
				 LIMIT_UPDLOCK_REASON_BYTES);
	return 0;
}

int updlock_write(const char *path, long long until, const char *reason)
{
	struct strbuf text = STRBUF_INIT;
	int ret;

	if (!path)
		return error_set(FURROW_EINVAL, "updlock_write: no path");
	if (until < 0)
		return error_set(FURROW_EINVAL, "update lock %s: expiry %lld "
				 "is negative", path, until);
	if (reason && (ret = check_reason(reason)))
		return error_prefix(ret, "update lock %s", path);
	strbuf_addf(&text, "%lld", until);
	if (reason && *reason)
		strbuf_addf(&text, " %s", reason);
	strbuf_addch(&text, '\n');

	ret = file_write_atomic(path, text.buf, text.len, 0644);
	strbuf_release(&text);
	return ret;
}

int updlock_remove(const char *path)
{
	if (!path)
		return error_set(FURROW_EINVAL, "updlock_remove: no path");
	if (unlink(path) < 0) {
		if (errno == ENOENT)
			return 0;
		return error_errno(FURROW_EIO, "cannot remove update lock %s",
				   path);
	}
	return file_sync_dir_of(path);
}
