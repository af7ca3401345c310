/*
 * fileutil.c - see fileutil.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "fileutil.h"
#include "strbuf.h"
#include "banned.h"

int file_sync_dir_of(const char *path)
{
	struct strbuf dir = STRBUF_INIT;
	const char *slash = strrchr(path, '/');
	int fd, ret = 0;

	if (slash == path)
		strbuf_addch(&dir, '/');
	else if (slash)
		strbuf_add(&dir, path, (size_t)(slash - path));
	else
		strbuf_addch(&dir, '.');
	fd = open(dir.buf, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		ret = error_errno(FURROW_EIO, "cannot sync directory %s", dir.buf);
	if (fd >= 0)
		close(fd);
	strbuf_release(&dir);
	return ret;
}

int file_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int file_write_atomic(const char *path, const void *data, size_t len,
		      mode_t mode)
{
	struct strbuf dir = STRBUF_INIT, tmp = STRBUF_INIT;
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	int fd = -1, ret = 0;

	if (slash == path)
		strbuf_addch(&dir, '/');
	else if (slash)
		strbuf_add(&dir, path, (size_t)(slash - path));
	else
		strbuf_addch(&dir, '.');
	if (!*base) {
		ret = error_set(FURROW_EINVAL, "%s names a directory, not a "
				"file", path);
		goto out;
	}
	/* A fresh, unguessable name created exclusively: a planted
	 * "<path>.tmp" symlink in a directory someone else can write is
	 * never followed.  Hidden, so that a reader globbing "*.prom" or
	 * the like never sees it. */
	strbuf_addf(&tmp, "%s/.%s.XXXXXX", dir.buf, base);
	fd = mkostemp(tmp.buf, O_CLOEXEC);
	if (fd < 0) {
		ret = error_errno(FURROW_EIO, "cannot create a temporary file "
				  "in %s", dir.buf);
		strbuf_setlen(&tmp, 0);
		goto out;
	}
	/* The mode asked for, whatever the umask. */
	if (fchmod(fd, mode) < 0 || file_write_all(fd, data, len) < 0 ||
	    fsync(fd) < 0) {
		ret = error_errno(FURROW_EIO, "cannot write %s", tmp.buf);
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		ret = error_errno(FURROW_EIO, "cannot write %s", tmp.buf);
		goto out;
	}
	fd = -1;
	if (rename(tmp.buf, path) < 0) {
		ret = error_errno(FURROW_EIO, "cannot rename %s to %s", tmp.buf,
				  path);
		goto out;
	}
	strbuf_setlen(&tmp, 0);
	ret = file_sync_dir_of(path);
out:
	if (fd >= 0)
		close(fd);
	if (tmp.len)
		unlink(tmp.buf);
	strbuf_release(&dir);
	strbuf_release(&tmp);
	return ret;
}

int file_mkdirs(const char *path, mode_t mode)
{
	struct strbuf sb = STRBUF_INIT;
	int ret = 0;

	strbuf_addstr(&sb, path);
	for (char *p = sb.buf + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;

		*p = '\0';
		if (mkdir(sb.buf, mode) < 0 && errno != EEXIST) {
			ret = error_errno(FURROW_EIO, "cannot create directory %s",
					  sb.buf);
			break;
		}
		*p = saved;
		if (!saved)
			break;
	}
	strbuf_release(&sb);
	return ret;
}
