/*
 * fileutil.c - see fileutil.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "fileutil.h"
#include "strbuf.h"
#include "banned.h"

static int fsync_dir_of(const char *path)
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
	struct strbuf tmp = STRBUF_INIT;
	int fd = -1, ret = 0;

	strbuf_addf(&tmp, "%s.tmp", path);
	fd = open(tmp.buf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0) {
		ret = error_errno(FURROW_EIO, "cannot create %s", tmp.buf);
		goto out;
	}
	if (file_write_all(fd, data, len) < 0) {
		ret = error_errno(FURROW_EIO, "cannot write %s", tmp.buf);
		goto out;
	}
	if (fsync(fd) < 0) {
		ret = error_errno(FURROW_EIO, "cannot sync %s", tmp.buf);
		goto out;
	}
	close(fd);
	fd = -1;
	if (rename(tmp.buf, path) < 0) {
		ret = error_errno(FURROW_EIO, "cannot rename %s to %s", tmp.buf,
				  path);
		goto out;
	}
	ret = fsync_dir_of(path);
out:
	if (fd >= 0)
		close(fd);
	if (ret)
		unlink(tmp.buf);
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
