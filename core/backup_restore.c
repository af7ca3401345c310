/*
 * backup_restore.c - write a snapshot's tree back to disk: into a new
 * directory (restore, drill) or over an app's data in place (data
 * rollback).
 *
 * Entries come parents first; a path is only created below a directory
 * this restore made itself, so a manifest cannot lead a restore outside
 * its target through a symlink.  Directory modes and times are applied
 * last (children change a directory's mtime).  Holes stay holes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "backup_int.h"
#include "error.h"
#include "fileutil.h"
#include "limits.h"
#include "log.h"
#include "monoclock.h"
#include "store.h"
#include "strbuf.h"
#include "banned.h"

struct dir_done {
	char *path;
	struct bt_entry e;         /* path/target not valid: use path */
};

struct restore {
	const struct chunk_source *src;
	const char *root;
	int rootfd;                /* root: every path below is relative to it */
	struct dir_done *dirs;
	size_t ndirs, alloc;
	struct strbuf rel;         /* the entry's path, NUL-terminated */
	struct strbuf abs;         /* root/rel, for messages only */
	struct backup_restore_stats *stats;
	struct opener *opener;
	int as_root;
};

/* "<root>/<rel>" for a message.  The system calls only see rel, relative
 * to rootfd: a tree whose paths were short enough where it was taken
 * must restore under a longer root too (past PATH_MAX as one path).
 * errno is kept for error_errno(). */
static const char *abs_of(struct restore *r, const char *rel)
{
	int saved = errno;

	strbuf_reset(&r->abs);
	strbuf_addf(&r->abs, "%s/%s", r->root, rel);
	errno = saved;
	return r->abs.buf;
}

static int dir_known(const struct restore *r, const char *p, size_t n)
{
	size_t i;

	/* Newest first: a child usually follows its parent closely. */
	for (i = r->ndirs; i-- > 0;)
		if (strlen(r->dirs[i].path) == n && !memcmp(r->dirs[i].path, p, n))
			return 1;
	return 0;
}

/* The parent of e must be a directory made by this restore (or the
 * root); rel is set to the entry's path. */
static int place(struct restore *r, const struct bt_entry *e)
{
	const char *slash = memrchr(e->path, '/', e->path_len);

	if (slash && !dir_known(r, e->path, (size_t)(slash - e->path)))
		return error_set(FURROW_ESYNTAX, "manifest: %.*s comes before "
				 "(or without) its directory", (int)e->path_len,
				 e->path);
	strbuf_reset(&r->rel);
	strbuf_add(&r->rel, e->path, e->path_len);
	return 0;
}

static void set_times(struct timespec ts[2], const struct bt_entry *e)
{
	ts[0].tv_sec = ts[1].tv_sec = e->mtime_sec;
	ts[0].tv_nsec = ts[1].tv_nsec = e->mtime_nsec;
}

/* Owner, mode and times of the entry at rel, through fd if it is open. */
static int finish_attrs(struct restore *r, int fd, const struct bt_entry *e,
			int is_link)
{
	const char *rel = r->rel.buf;
	struct timespec ts[2];

	set_times(ts, e);
	if (r->as_root &&
	    (fd >= 0 ? fchown(fd, e->uid, e->gid) :
	     fchownat(r->rootfd, rel, e->uid, e->gid,
		      AT_SYMLINK_NOFOLLOW)) < 0)
		return error_errno(FURROW_EIO, "cannot chown %s",
				   abs_of(r, rel));
	if (!is_link && (fd >= 0 ? fchmod(fd, e->mode) :
			 fchmodat(r->rootfd, rel, e->mode, 0)) < 0)
		return error_errno(FURROW_EIO, "cannot chmod %s",
				   abs_of(r, rel));
	if ((fd >= 0 ? futimens(fd, ts) :
	     utimensat(r->rootfd, rel, ts, AT_SYMLINK_NOFOLLOW)) < 0)
		return error_errno(FURROW_EIO, "cannot set times of %s",
				   abs_of(r, rel));
	return 0;
}

/* All of buf at off.  A short write (the disk filled up) is retried, so
 * that the error is the one the kernel gives (ENOSPC), not a stale
 * errno. */
static int pwrite_all(int fd, const char *buf, size_t len, off_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, buf, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = ENOSPC;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

struct write_arg {
	struct restore *r;
	int fd;
};

static int write_opened(void *arg, const void *plain, size_t len,
			uint64_t off)
{
	struct write_arg *w = arg;

	w->r->stats->chunks++;
	if (pwrite_all(w->fd, plain, len, (off_t)off) < 0)
		return error_errno(FURROW_EIO, "cannot write %s",
				   abs_of(w->r, w->r->rel.buf));
	return 0;
}

static int restore_file(struct restore *r, const struct bt_entry *e)
{
	struct bt_extent_reader xr;
	struct bt_extent x;
	struct write_arg w;
	uint64_t off = 0;
	int fd, ret = 0, drained;

	fd = openat(r->rootfd, r->rel.buf, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return error_errno(FURROW_EIO, "cannot create %s",
				   abs_of(r, r->rel.buf));
	w.r = r;
	w.fd = fd;
	/* Chunks are opened on the opener's threads, written here in the
	 * order of the file; holes are left as holes. */
	bt_extents(&xr, e);
	while (!ret && bt_extent_next(&xr, &x)) {
		if (!x.hole)
			ret = opener_submit(r->opener, x.id, x.len, off,
					    write_opened, &w);
		off += x.len;
	}
	/* Always: the rest written (or, after an error, dropped), the opener
	 * empty for the next file; the first error is the one it returns. */
	drained = opener_drain(r->opener, write_opened, &w);
	if (!ret)
		ret = drained;
	if (!ret && ftruncate(fd, (off_t)e->size) < 0)
		ret = error_errno(FURROW_EIO, "cannot size %s",
				  abs_of(r, r->rel.buf));
	if (!ret)
		ret = finish_attrs(r, fd, e, 0);
	if (close(fd) < 0 && !ret)
		ret = error_errno(FURROW_EIO, "cannot write %s",
				  abs_of(r, r->rel.buf));
	if (ret)
		return error_prefix(ret, "%.*s", (int)e->path_len, e->path);
	r->stats->bytes += e->size;
	return 0;
}

static int restore_entry(struct restore *r, const struct bt_entry *e)
{
	struct strbuf tmp = STRBUF_INIT;
	const char *rel;
	int ret = 0;

	if ((ret = place(r, e)))
		return ret;
	rel = r->rel.buf;
	r->stats->files++;
	switch (e->type) {
	case BT_DIR:
		if (mkdirat(r->rootfd, rel, 0700) < 0)
			return error_errno(FURROW_EIO, "cannot create %s",
					   abs_of(r, rel));
		if (r->ndirs == r->alloc) {
			r->alloc = r->alloc ? 2 * r->alloc : 64;
			r->dirs = realloc(r->dirs, r->alloc * sizeof(*r->dirs));
		}
		r->dirs[r->ndirs].path = strndup(e->path, e->path_len);
		r->dirs[r->ndirs].e = *e;
		r->ndirs++;
		return 0;
	case BT_FILE:
		return restore_file(r, e);
	case BT_SYMLINK:
		strbuf_add(&tmp, e->target, e->target_len);
		if (symlinkat(tmp.buf, r->rootfd, rel) < 0)
			ret = error_errno(FURROW_EIO, "cannot create symlink %s",
					  abs_of(r, rel));
		else
			ret = finish_attrs(r, -1, e, 1);
		break;
	case BT_HARDLINK:
		/* The target is a path of the same tree: relative to root
		 * too. */
		strbuf_add(&tmp, e->target, e->target_len);
		if (linkat(r->rootfd, tmp.buf, r->rootfd, rel, 0) < 0) {
			int saved = errno;
			struct strbuf to = STRBUF_INIT;

			strbuf_addf(&to, "%s/%s", r->root, tmp.buf);
			errno = saved;
			ret = error_errno(FURROW_EIO, "cannot link %s to %s",
					  abs_of(r, rel), to.buf);
			strbuf_release(&to);
		}
		break;
	case BT_FIFO:
		if (mkfifoat(r->rootfd, rel, 0600) < 0)
			ret = error_errno(FURROW_EIO, "cannot create fifo %s",
					  abs_of(r, rel));
		else
			ret = finish_attrs(r, -1, e, 0);
		break;
	}
	strbuf_release(&tmp);
	return ret;
}

int restore_tree(const struct chunk_source *src, const void *tree,
		 size_t tree_len, const char *dir,
		 struct backup_restore_stats *stats)
{
	struct restore r;
	struct bt_reader rd;
	struct bt_entry e;
	size_t i;
	int ret;

	memset(&r, 0, sizeof(r));
	r.src = src;
	r.root = dir;
	r.stats = stats;
	r.as_root = geteuid() == 0;
	strbuf_init(&r.rel, 256);
	strbuf_init(&r.abs, 256);
	r.rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r.rootfd < 0) {
		ret = error_errno(FURROW_EIO, "cannot open %s", dir);
		goto out;
	}
	r.opener = opener_new(src);
	if ((ret = bt_reader_init(&rd, tree, tree_len)))
		goto out;
	while ((ret = bt_next(&rd, &e)) == 1)
		if ((ret = restore_entry(&r, &e)))
			break;
	/* Directories last, deepest first. */
	for (i = r.ndirs; !ret && i-- > 0;) {
		strbuf_reset(&r.rel);
		strbuf_addstr(&r.rel, r.dirs[i].path);
		ret = finish_attrs(&r, -1, &r.dirs[i].e, 0);
	}
out:
	for (i = 0; i < r.ndirs; i++)
		free(r.dirs[i].path);
	free(r.dirs);
	strbuf_release(&r.rel);
	strbuf_release(&r.abs);
	opener_free(r.opener);
	if (r.rootfd >= 0)
		close(r.rootfd);
	return ret < 0 ? ret : 0;
}

/* ---- removing a tree ---- */

/* A level at a time, by a parent's fd and a name, never a whole path: a
 * restored tree can be deeper than PATH_MAX as one path (where nftw()
 * stops).  Symlinks are never followed, only removed.  The helpers return
 * 0, -1 with errno, or RM_TOO_DEEP. */
#define RM_TOO_DEEP (-2)

static int rm_at(int pfd, const char *name, int depth);

/* Everything in the directory dfd, which is closed. */
static int rm_contents(int dfd, int depth)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	int ret = 0, saved;

	if (!d) {
		saved = errno;
		close(dfd);
		errno = saved;
		return -1;
	}
	/* Entries go as they are read, as rm -r does; one a read returns
	 * again is already gone (ENOENT is fine below). */
	while (!ret && (errno = 0, de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			ret = rm_at(dirfd(d), de->d_name, depth + 1);
	if (!ret && errno)
		ret = -1;
	saved = errno;
	closedir(d);
	errno = saved;
	return ret;
}

/* The directory name in pfd, opened to be emptied.  A restore cut short
 * can leave a directory without read, write or search permission (modes
 * are set last); we own it, so it is made 0700 when its mode is in the
 * way. */
static int open_to_empty(int pfd, const char *name, const struct stat *st)
{
	int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
	int fd = openat(pfd, name, flags);

	if (fd < 0 && errno == EACCES && fchmodat(pfd, name, 0700, 0) == 0)
		fd = openat(pfd, name, flags);
	if (fd >= 0 && (st->st_mode & 0300) != 0300 && fchmod(fd, 0700) < 0) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/* Remove name in pfd (AT_FDCWD and a path at the top), depth levels
 * below the top. */
static int rm_at(int pfd, const char *name, int depth)
{
	struct stat st;
	int fd, ret;

	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(pfd, name, 0) < 0 && errno != ENOENT ? -1 : 0;
	/* One open directory per level: bounded, so that a tree made
	 * deep on purpose runs out of neither fds nor stack. */
	if (depth >= LIMIT_BACKUP_RMTREE_DEPTH)
		return RM_TOO_DEEP;
	if ((fd = open_to_empty(pfd, name, &st)) < 0)
		return errno == ENOENT ? 0 : -1;
	if ((ret = rm_contents(fd, depth)))
		return ret;
	return unlinkat(pfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT ?
		-1 : 0;
}

int backup_rmtree(const char *path)
{
	int ret = rm_at(AT_FDCWD, path, 0);

	if (ret == RM_TOO_DEEP)
		return error_set(FURROW_ELIMIT, "cannot remove %s: directories "
				 "nested deeper than %d levels", path,
				 LIMIT_BACKUP_RMTREE_DEPTH);
	if (ret < 0)
		return error_errno(FURROW_EIO, "cannot remove %s", path);
	return 0;
}

/* ---- restore into a new directory ---- */

/* The hidden sibling a restore into path (no trailing slash) writes
 * first: "<dir>/.furrow-restore-<name>-<pid>"; dir and the part before
 * the pid also go to the caller, to find those of dead restores. */
static void hidden_sibling(struct strbuf *out, struct strbuf *dir,
			   struct strbuf *prefix, const char *path)
{
	const char *slash = strrchr(path, '/');

	strbuf_reset(dir);
	if (slash)
		strbuf_add(dir, path, slash > path ? (size_t)(slash - path) : 1);
	else
		strbuf_addch(dir, '.');
	strbuf_reset(prefix);
	strbuf_addf(prefix, ".furrow-restore-%s-", slash ? slash + 1 : path);
	strbuf_reset(out);
	strbuf_addf(out, "%s%s%s%ld", dir->buf,
		    dir->buf[dir->len - 1] == '/' ? "" : "/", prefix->buf,
		    (long)getpid());
}

/* A restore killed before its rename leaves its hidden sibling behind
 * (a drill's lives in the state dir): remove those of this target whose
 * process is gone.  A live one (another restore) is left alone. */
static void remove_dead_siblings(const char *dir, const char *prefix)
{
	struct strbuf p = STRBUF_INIT;
	struct dirent *de;
	size_t n = strlen(prefix);
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((de = readdir(d))) {
		char *end;
		long pid;

		if (strncmp(de->d_name, prefix, n))
			continue;
		errno = 0;
		pid = strtol(de->d_name + n, &end, 10);
		if (end == de->d_name + n || *end || pid <= 0 || errno ||
		    pid == (long)getpid() || kill((pid_t)pid, 0) == 0 ||
		    errno != ESRCH)
			continue;
		strbuf_reset(&p);
		strbuf_addf(&p, "%s/%s", dir, de->d_name);
		(void)backup_rmtree(p.buf);
	}
	closedir(d);
	strbuf_release(&p);
	error_clear();
}

/* 1 if path is a directory with nothing in it. */
static int empty_dir(const char *path)
{
	struct dirent *de;
	DIR *d = opendir(path);
	int empty = 1;

	if (!d)
		return 0;
	while (empty && (de = readdir(d)))
		empty = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..");
	closedir(d);
	return empty;
}

int restore_to_new_dir(const struct chunk_source *src,
		       const struct backup_record *rec, const char *to_dir,
		       struct backup_restore_stats *stats)
{
	struct strbuf tree = STRBUF_INIT, tmp = STRBUF_INIT, to = STRBUF_INIT,
		      dir = STRBUF_INIT, prefix = STRBUF_INIT;
	struct stat st;
	double t0 = monoclock_now();
	int ret;

	memset(stats, 0, sizeof(*stats));
	/* "out/" is "out": the hidden sibling goes beside it, not in it. */
	strbuf_addstr(&to, to_dir);
	while (to.len > 1 && to.buf[to.len - 1] == '/')
		strbuf_setlen(&to, to.len - 1);
	if (!to.len || !strcmp(to.buf, "/")) {
		ret = error_set(FURROW_EINVAL, "restore: --to needs a new or "
				"empty directory");
		goto out;
	}
	/* A new directory, or an empty one, which the rename replaces: it
	 * stays as it was if the restore fails. */
	if (lstat(to.buf, &st) == 0 && (!S_ISDIR(st.st_mode) ||
					!empty_dir(to.buf))) {
		ret = error_set(FURROW_EINVAL, "restore: %s already exists "
				"and is not an empty directory", to.buf);
		goto out;
	}
	hidden_sibling(&tmp, &dir, &prefix, to.buf);
	remove_dead_siblings(dir.buf, prefix.buf);
	(void)backup_rmtree(tmp.buf);
	error_clear();
	if (mkdir(tmp.buf, 0700) < 0) {
		ret = error_errno(FURROW_EIO, "restore: cannot create %s",
				  tmp.buf);
		goto out;
	}
	if ((ret = tree_load(src, rec, &tree)) ||
	    (ret = restore_tree(src, tree.buf, tree.len, tmp.buf, stats)))
		goto out;
	if (rename(tmp.buf, to.buf) < 0) {
		ret = error_errno(FURROW_EIO, "restore: cannot rename %s to "
				  "%s", tmp.buf, to.buf);
		goto out;
	}
	stats->seconds = monoclock_now() - t0;
out:
	if (ret && tmp.len) {
		char keep[FURROW_ERROR_MAX];
		int code = error_code();

		snprintf(keep, sizeof(keep), "%s", error_message());
		(void)backup_rmtree(tmp.buf);
		error_set(code ? code : ret, "%s", keep);
	}
	strbuf_release(&tree);
	strbuf_release(&tmp);
	strbuf_release(&to);
	strbuf_release(&dir);
	strbuf_release(&prefix);
	return ret;
}

int backup_restore(struct backup_store *bs, const char *app, uint64_t id,
		   const char *to_dir, struct backup_restore_stats *stats)
{
	struct backup_record rec;
	struct chunk_source src;
	int ret;

	memset(stats, 0, sizeof(*stats));
	if ((ret = record_load(bs, id, &rec)))
		return ret;
	if (strcmp(rec.info.app, app)) {
		ret = error_set(FURROW_ENOENT, "snapshot %llu is of app %s, "
				"not %s", (unsigned long long)id, rec.info.app,
				app);
	} else {
		backup_local_source(&src, bs);
		ret = restore_to_new_dir(&src, &rec, to_dir, stats);
	}
	record_release(&rec);
	return ret;
}

/* ---- data rollback: restore in place ---- */

/* renameat2(RENAME_EXCHANGE) by system call: musl 1.2.3 has no wrapper. */
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif
static int exchange(const char *a, const char *b)
{
	return (int)syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b,
			    RENAME_EXCHANGE);
}

int backup_restore_in_place(struct backup_store *bs, uint64_t id,
			    const char *data_dir)
{
	struct backup_record rec;
	struct chunk_source src;
	struct backup_restore_stats stats;
	struct strbuf tree = STRBUF_INIT, tmp = STRBUF_INIT, from = STRBUF_INIT,
		      to = STRBUF_INIT, trash = STRBUF_INIT;
	struct stat st;
	size_t i;
	int ret, fd;

	memset(&stats, 0, sizeof(stats));
	if ((ret = record_load(bs, id, &rec)))
		return ret;
	backup_local_source(&src, bs);
	/* A sibling of data/ on the same filesystem, so that each path can
	 * be exchanged with one rename. */
	strbuf_addf(&tmp, "%s.restore", data_dir);
	strbuf_addf(&trash, "%s/.trash", tmp.buf);
	if ((ret = backup_rmtree(tmp.buf)))
		goto out;
	if (mkdir(tmp.buf, 0700) < 0) {
		ret = error_errno(FURROW_EIO, "cannot create %s", tmp.buf);
		goto out;
	}
	if ((ret = tree_load(&src, &rec, &tree)) ||
	    (ret = restore_tree(&src, tree.buf, tree.len, tmp.buf, &stats)))
		goto out;
	if ((fd = open(tmp.buf, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		(void)syncfs(fd);
		close(fd);
	}
	if (mkdir(trash.buf, 0700) < 0) {
		ret = error_errno(FURROW_EIO, "cannot create %s", trash.buf);
		goto out;
	}
	for (i = 0; i < rec.npaths && !ret; i++) {
		strbuf_reset(&from);
		strbuf_reset(&to);
		strbuf_addf(&from, "%s/%s", tmp.buf, rec.paths[i]);
		strbuf_addf(&to, "%s/%s", data_dir, rec.paths[i]);
		if (lstat(from.buf, &st) < 0) {
			/* Not there at snapshot time (or inside an earlier
			 * path): what is there now goes. */
			strbuf_reset(&from);
			strbuf_addf(&from, "%s/%zu", trash.buf, i);
			if (lstat(to.buf, &st) == 0 &&
			    rename(to.buf, from.buf) < 0)
				ret = error_errno(FURROW_EIO, "cannot move %s "
						  "aside", to.buf);
			continue;
		}
		{
			char *slash = strrchr(to.buf, '/');

			*slash = '\0';
			ret = file_mkdirs(to.buf, 0700);
			*slash = '/';
			if (ret)
				break;
		}
		if (exchange(from.buf, to.buf) < 0) {
			if (errno != ENOENT) {
				ret = error_errno(FURROW_EIO, "cannot exchange "
						  "%s and %s", from.buf,
						  to.buf);
				break;
			}
			if (rename(from.buf, to.buf) < 0)
				ret = error_errno(FURROW_EIO, "cannot move %s "
						  "to %s", from.buf, to.buf);
		}
	}
	if (!ret)
		ret = file_sync_dir_of(to.len ? to.buf : data_dir);
	if (!ret)
		ret = backup_rmtree(tmp.buf);
out:
	if (ret)
		ret = error_prefix(ret, "restoring snapshot %llu into %s",
				   (unsigned long long)id, data_dir);
	record_release(&rec);
	strbuf_release(&tree);
	strbuf_release(&tmp);
	strbuf_release(&from);
	strbuf_release(&to);
	strbuf_release(&trash);
	return ret;
}
