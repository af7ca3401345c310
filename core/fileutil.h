/*
 * fileutil.h - small file operations furrow needs to be durable.
 */
#ifndef FURROW_FILEUTIL_H
#define FURROW_FILEUTIL_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Replace path with data, atomically and durably: write a new hidden
 * temporary file ".<name>.XXXXXX" beside it (created exclusively, never
 * through a symlink), set exactly mode (not reduced by the umask), fsync
 * it, rename it over path, fsync the directory.  A crash leaves either
 * the old or the new content, never a mix (at worst a stray temporary
 * file).  Returns 0, FURROW_EINVAL (path names a directory) or FURROW_EIO
 * with the message recorded.
 */
int file_write_atomic(const char *path, const void *data, size_t len,
		      mode_t mode);

/* Write all len bytes to fd, retrying short writes and EINTR.  Returns 0,
 * or -1 with errno set (no message recorded: callers name the file). */
int file_write_all(int fd, const void *buf, size_t len);

/* fsync the directory holding path, so that a rename or unlink in it is
 * durable.  0 or FURROW_EIO with the message recorded. */
int file_sync_dir_of(const char *path);

/* mkdir -p with mode for the directories it creates. */
int file_mkdirs(const char *path, mode_t mode);

#endif
