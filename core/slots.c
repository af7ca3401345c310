/*
 * slots.c - see slots.h.
 *
 * Everything below apps/<app>/ goes through *at() calls on descriptors
 * opened with O_NOFOLLOW, so a symlink inside a slot is an entry like any
 * other: unlinked when emptying, reported when verifying, never a way out.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "appname.h"
#include "bug.h"
#include "error.h"
#include "fileutil.h"
#include "limits.h"
#include "repopath.h"
#include "slots.h"
#include "strbuf.h"
#include "verify.h"
#include "banned.h"

#define MANIFEST_TMP SLOTS_MANIFEST ".tmp"
#define DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)

struct slots {
	int fd;          /* apps/<app>/ */
	char *path;      /* "STATE_DIR/apps/APP" */
	char *app;
};

struct staged {
	char *path;
	char sha[65];
	mode_t mode;
	uint64_t size;
};

struct slot_stage {
	struct slots *s;
	int slot;
	int fd;          /* the slot directory */
	int dead;        /* failed or committed */
	struct staged *files;
	size_t n, alloc;
	uint64_t bytes;
};

/* errno after a failed write, as a message that says what to do. */
static int io_error(const char *what, const struct slots *s, int slot,
		    const char *rel)
{
	if (errno == ENOSPC || errno == EDQUOT)
		return error_errno(FURROW_EIO, "app %s: slot %c: %s %s: disk full",
				   s->app, slot, what, rel);
	return error_errno(FURROW_EIO, "app %s: slot %c: cannot %s %s",
			   s->app, slot, what, rel);
}

/* Create dir under parent (a path) if missing, syncing parent after a
 * creation so that it survives a crash.  1 created, 0 existed, or <0. */
static int make_dir(const char *parent, int parent_fd, const char *name)
{
	if (mkdirat(parent_fd, name, 0700) < 0) {
		if (errno == EEXIST)
			return 0;
		return error_errno(FURROW_EIO, "cannot create directory %s/%s",
				   parent, name);
	}
	if (fsync(parent_fd) < 0)
		return error_errno(FURROW_EIO, "cannot sync directory %s", parent);
	return 1;
}

int slots_open(struct slots **out, const char *state_dir, const char *app)
{
	struct strbuf path = STRBUF_INIT;
	struct slots *s = NULL;
	struct stat st;
	int fd = -1, apps_fd = -1, ret = 0;

	*out = NULL;
	if (!app_name_valid(app))
		return error_set(FURROW_EINVAL, "slots: \"%.64s\" is not an app name",
				 app);
	strbuf_addf(&path, "%s/apps/%s", state_dir, app);
	/* The common case - every pass, every app - is an existing app:
	 * no mkdir, no sync, nothing written. */
	fd = open(path.buf, DIR_FLAGS);
	if (fd < 0 && errno == ENOENT) {
		strbuf_setlen(&path, path.len - strlen(app) - 1);
		if ((ret = file_mkdirs(path.buf, 0700)))
			goto out;
		apps_fd = open(path.buf, DIR_FLAGS);
		if (apps_fd < 0) {
			ret = error_errno(FURROW_EIO, "cannot open %s", path.buf);
			goto out;
		}
		if ((ret = make_dir(path.buf, apps_fd, app)) < 0)
			goto out;
		strbuf_addf(&path, "/%s", app);
		fd = open(path.buf, DIR_FLAGS);
	}
	if (fd < 0) {
		ret = error_errno(errno == ELOOP || errno == ENOTDIR ?
				  FURROW_EINVAL : FURROW_EIO,
				  "cannot open app directory %s", path.buf);
		goto out;
	}
	if (fstatat(fd, "data", &st, AT_SYMLINK_NOFOLLOW) < 0 &&
	    (ret = make_dir(path.buf, fd, "data")) < 0)
		goto out;
	ret = 0;
	s = xcalloc(1, sizeof(*s));
	s->fd = fd;
	fd = -1;
	s->path = strbuf_detach(&path, NULL);
	s->app = xstrdup(app);
	*out = s;
out:
	if (fd >= 0)
		close(fd);
	if (apps_fd >= 0)
		close(apps_fd);
	strbuf_release(&path);
	return ret;
}

void slots_free(struct slots *s)
{
	if (!s)
		return;
	close(s->fd);
	free(s->path);
	free(s->app);
	free(s);
}

const char *slots_path(const struct slots *s)
{
	return s->path;
}

int slots_active(const struct slots *s)
{
	char buf[4];
	ssize_t n = readlinkat(s->fd, "current", buf, sizeof(buf));

	if (n == 1 && (buf[0] == 'a' || buf[0] == 'b'))
		return buf[0];
	return 0;
}

int slots_inactive(const struct slots *s)
{
	return slots_active(s) == 'a' ? 'b' : 'a';
}

static const char *slot_name(int slot)
{
	return slot == 'a' ? "a" : "b";
}

/*
 * Remove everything inside the directory fd (which this closes), never
 * following a symlink.  path is for messages and grows as we descend.
 */
static int empty_dir(int fd, struct strbuf *path, unsigned depth)
{
	DIR *d;
	struct dirent *e;
	size_t base = path->len;
	int ret = 0;

	if (depth > LIMIT_SLOT_PATH_DEPTH) {
		close(fd);
		return error_set(FURROW_ELIMIT,
				 "%s: nested deeper than %u directories (LIMIT_SLOT_PATH_DEPTH)",
				 path->buf, (unsigned)LIMIT_SLOT_PATH_DEPTH);
	}
	d = fdopendir(fd);
	if (!d) {
		ret = error_errno(FURROW_EIO, "cannot read directory %s", path->buf);
		close(fd);
		return ret;
	}
	while (!ret) {
		struct stat st;
		int sub;

		errno = 0;
		e = readdir(d);
		if (!e) {
			if (errno)
				ret = error_errno(FURROW_EIO, "cannot read directory %s",
						  path->buf);
			break;
		}
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		strbuf_setlen(path, base);
		strbuf_addf(path, "/%s", e->d_name);
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT)
				ret = error_errno(FURROW_EIO, "cannot stat %s", path->buf);
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (unlinkat(dirfd(d), e->d_name, 0) < 0 && errno != ENOENT)
				ret = error_errno(FURROW_EIO, "cannot remove %s",
						  path->buf);
			continue;
		}
		/* O_NOFOLLOW: if it became a symlink since fstatat, fail. */
		sub = openat(dirfd(d), e->d_name, DIR_FLAGS);
		if (sub < 0) {
			ret = error_errno(FURROW_EIO, "cannot open directory %s",
					  path->buf);
			continue;
		}
		ret = empty_dir(sub, path, depth + 1);
		if (!ret && unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR) < 0)
			ret = error_errno(FURROW_EIO, "cannot remove directory %s",
					  path->buf);
	}
	strbuf_setlen(path, base);
	closedir(d);
	return ret;
}

/* Open slot's directory, replacing a non-directory in its place. */
static int open_slot(struct slots *s, int slot, int create, int *fdp)
{
	const char *name = slot_name(slot);
	struct stat st;
	int fd;

	*fdp = -1;
	fd = openat(s->fd, name, DIR_FLAGS);
	if (fd >= 0) {
		*fdp = fd;
		return 0;
	}
	if (!create)
		return error_errno(errno == ENOENT ? FURROW_ENOENT : FURROW_EIO,
				   "app %s: cannot open slot %c", s->app, slot);
	if (errno != ENOENT && errno != ELOOP && errno != ENOTDIR)
		return error_errno(FURROW_EIO, "app %s: cannot open slot %c",
				   s->app, slot);
	/* A symlink or file named like the slot: remove the entry itself. */
	if (fstatat(s->fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    !S_ISDIR(st.st_mode) && unlinkat(s->fd, name, 0) < 0)
		return error_errno(FURROW_EIO, "app %s: cannot remove %s/%s",
				   s->app, s->path, name);
	if (mkdirat(s->fd, name, 0755) < 0 && errno != EEXIST)
		return io_error("create", s, slot, "directory");
	fd = openat(s->fd, name, DIR_FLAGS);
	if (fd < 0)
		return error_errno(FURROW_EIO, "app %s: cannot open slot %c",
				   s->app, slot);
	*fdp = fd;
	return 0;
}

int slots_stage_begin(struct slots *s, struct slot_stage **out)
{
	struct strbuf path = STRBUF_INIT;
	struct slot_stage *st;
	int slot = slots_inactive(s);
	int fd = -1, ret;

	*out = NULL;
	ret = open_slot(s, slot, 1, &fd);
	if (ret)
		goto out;
	/* The manifest goes first, durably: from here on the slot is
	 * known incomplete, whatever a crash leaves of the rest. */
	if (unlinkat(fd, SLOTS_MANIFEST, 0) < 0 && errno != ENOENT) {
		ret = io_error("remove", s, slot, SLOTS_MANIFEST);
		goto out;
	}
	if (fsync(fd) < 0) {
		ret = io_error("sync", s, slot, "directory");
		goto out;
	}
	strbuf_addf(&path, "%s/%s", s->path, slot_name(slot));
	{
		int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);

		if (dup_fd < 0) {
			ret = error_errno(FURROW_EIO, "cannot duplicate descriptor");
			goto out;
		}
		ret = empty_dir(dup_fd, &path, 1);
	}
	if (ret)
		goto out;
	if (fsync(fd) < 0) {
		ret = io_error("sync", s, slot, "directory");
		goto out;
	}
	st = xcalloc(1, sizeof(*st));
	st->s = s;
	st->slot = slot;
	st->fd = fd;
	fd = -1;
	*out = st;
out:
	if (fd >= 0)
		close(fd);
	strbuf_release(&path);
	return ret;
}

int slot_stage_slot(const struct slot_stage *st)
{
	return st->slot;
}

/*
 * Open the parent directory of rel below rootfd, creating missing
 * directories when create is set, never following a symlink.  Returns a
 * new descriptor or -1 with errno set; *leaf points into rel.
 */
static int open_parent(int rootfd, const char *rel, int create,
		       const char **leaf)
{
	const char *p = rel, *last = NULL;
	size_t len, last_len = 0;
	int fd = fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
	char name[LIMIT_GIT_PATH_BYTES + 1];

	if (fd < 0)
		return -1;
	while (repopath_next(&p, &len)) {
		if (last) {
			int sub;

			memcpy(name, last, last_len);
			name[last_len] = '\0';
			sub = openat(fd, name, DIR_FLAGS);
			if (sub < 0 && errno == ENOENT && create) {
				if (mkdirat(fd, name, 0755) < 0 && errno != EEXIST)
					goto fail;
				sub = openat(fd, name, DIR_FLAGS);
			}
			if (sub < 0)
				goto fail;
			close(fd);
			fd = sub;
		}
		last = p;
		last_len = len;
		p += len;
	}
	*leaf = last;
	return fd;
fail:
	{
		int saved = errno;

		close(fd);
		errno = saved;
	}
	return -1;
}

int slot_stage_file(struct slot_stage *st, const char *relpath,
		    const void *data, size_t len, mode_t mode)
{
	struct slots *s = st->s;
	const char *leaf = NULL;
	int dirfd_ = -1, fd = -1, created = 0, ret = 0;
	struct staged *f;

	if (st->dead)
		return error_set(FURROW_EINVAL,
				 "app %s: slot %c: staging already failed or committed",
				 s->app, st->slot);
	ret = repopath_check(relpath);
	if (ret) {
		error_prefix(ret, "app %s: slot %c", s->app, st->slot);
		goto out;
	}
	if (!strcmp(relpath, SLOTS_MANIFEST) || !strcmp(relpath, MANIFEST_TMP)) {
		ret = error_set(FURROW_EINVAL, "app %s: slot %c: %s is a reserved name",
				s->app, st->slot, relpath);
		goto out;
	}
	if ((mode & ~(mode_t)0777) != 0) {
		ret = error_set(FURROW_EINVAL, "app %s: slot %c: %s: mode %o is not 0..0777",
				s->app, st->slot, relpath, (unsigned)mode);
		goto out;
	}
	if (st->n >= LIMIT_SLOT_FILES) {
		ret = error_set(FURROW_ELIMIT,
				"app %s: slot %c: %s: more than %u files (LIMIT_SLOT_FILES)",
				s->app, st->slot, relpath, (unsigned)LIMIT_SLOT_FILES);
		goto out;
	}
	if (len > LIMIT_SLOT_BYTES - st->bytes) {
		ret = error_set(FURROW_ELIMIT,
				"app %s: slot %c: %s: more than %llu bytes (LIMIT_SLOT_BYTES)",
				s->app, st->slot, relpath,
				(unsigned long long)LIMIT_SLOT_BYTES);
		goto out;
	}
	dirfd_ = open_parent(st->fd, relpath, 1, &leaf);
	if (dirfd_ < 0) {
		ret = errno == ENOSPC || errno == EDQUOT ?
			io_error("create directories for", s, st->slot, relpath) :
			error_errno(FURROW_EINVAL,
				    "app %s: slot %c: cannot create directories for %s",
				    s->app, st->slot, relpath);
		goto out;
	}
	fd = openat(dirfd_, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = errno == EEXIST ?
			error_set(FURROW_EINVAL, "app %s: slot %c: %s staged twice",
				  s->app, st->slot, relpath) :
			io_error("create", s, st->slot, relpath);
		goto out;
	}
	created = 1;
	if (file_write_all(fd, data, len) < 0) {
		ret = io_error("write", s, st->slot, relpath);
		goto out;
	}
	if (fchmod(fd, mode) < 0) {
		ret = io_error("chmod", s, st->slot, relpath);
		goto out;
	}
	if (fsync(fd) < 0) {
		ret = io_error("sync", s, st->slot, relpath);
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		ret = io_error("close", s, st->slot, relpath);
		goto out;
	}
	fd = -1;
	if (st->n == st->alloc) {
		st->alloc = st->alloc ? 2 * st->alloc : 64;
		st->files = xrealloc(st->files, st->alloc * sizeof(*st->files));
	}
	f = &st->files[st->n++];
	f->path = xstrdup(relpath);
	verify_sha256_hex(f->sha, data, len);
	f->mode = mode;
	f->size = len;
	st->bytes += len;
out:
	if (fd >= 0)
		close(fd);
	if (ret && created)
		unlinkat(dirfd_, leaf, 0); /* give the space back */
	if (dirfd_ >= 0)
		close(dirfd_);
	if (ret)
		st->dead = 1;
	return ret;
}

/* fsync every directory below fd (which this closes), children first. */
static int sync_dirs(int fd, unsigned depth)
{
	DIR *d;
	struct dirent *e;
	int ret = 0;

	if (depth > LIMIT_SLOT_PATH_DEPTH) {
		close(fd);
		return error_set(FURROW_ELIMIT, "slot nested deeper than %u (LIMIT_SLOT_PATH_DEPTH)",
				 (unsigned)LIMIT_SLOT_PATH_DEPTH);
	}
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return error_errno(FURROW_EIO, "cannot read a slot directory");
	}
	while (!ret && (e = readdir(d))) {
		int sub;

		if (e->d_type != DT_DIR || !strcmp(e->d_name, ".") ||
		    !strcmp(e->d_name, ".."))
			continue;
		sub = openat(dirfd(d), e->d_name, DIR_FLAGS);
		if (sub < 0)
			ret = error_errno(FURROW_EIO, "cannot open slot directory %s",
					  e->d_name);
		else
			ret = sync_dirs(sub, depth + 1);
	}
	if (!ret && fsync(dirfd(d)) < 0)
		ret = error_errno(FURROW_EIO, "cannot sync a slot directory");
	closedir(d);
	return ret;
}

static int is_hex(const char *s, size_t min, size_t max)
{
	size_t n = s ? strlen(s) : 0;

	if (n < min || n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

static int staged_cmp(const void *a, const void *b)
{
	return strcmp(((const struct staged *)a)->path,
		      ((const struct staged *)b)->path);
}

int slots_stage_commit(struct slot_stage *st,
		       const struct slot_manifest_info *info)
{
	struct slots *s = st->s;
	struct strbuf m = STRBUF_INIT;
	int fd = -1, ret = 0, dup_fd;

	if (st->dead)
		return error_set(FURROW_EINVAL,
				 "app %s: slot %c: staging already failed or committed",
				 s->app, st->slot);
	if (!info || !is_hex(info->commit, 1, 64) ||
	    !is_hex(info->spec_sha256, 64, 64)) {
		ret = error_set(FURROW_EINVAL,
				"app %s: slot %c: manifest needs a hex commit id and spec sha256",
				s->app, st->slot);
		goto out;
	}
	dup_fd = fcntl(st->fd, F_DUPFD_CLOEXEC, 0);
	if (dup_fd < 0) {
		ret = error_errno(FURROW_EIO, "cannot duplicate descriptor");
		goto out;
	}
	ret = sync_dirs(dup_fd, 1);
	if (ret) {
		error_prefix(ret, "app %s: slot %c", s->app, st->slot);
		goto out;
	}
	if (st->n)   /* qsort of a NULL base is undefined, even for 0 */
		qsort(st->files, st->n, sizeof(*st->files), staged_cmp);
	strbuf_addf(&m, "furrow-slot 1\ncommit %s\nspec %s\n", info->commit,
		    info->spec_sha256);
	for (size_t i = 0; i < st->n; i++)
		strbuf_addf(&m, "file %s %03o %" PRIu64 " %s\n", st->files[i].sha,
			    (unsigned)st->files[i].mode, st->files[i].size,
			    st->files[i].path);
	strbuf_addf(&m, "end %zu\n", st->n);

	unlinkat(st->fd, MANIFEST_TMP, 0);
	fd = openat(st->fd, MANIFEST_TMP, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		ret = io_error("create", s, st->slot, MANIFEST_TMP);
		goto out;
	}
	if (file_write_all(fd, m.buf, m.len) < 0) {
		ret = io_error("write", s, st->slot, MANIFEST_TMP);
		goto out;
	}
	if (fsync(fd) < 0) {
		ret = io_error("sync", s, st->slot, MANIFEST_TMP);
		goto out;
	}
	close(fd);
	fd = -1;
	if (renameat(st->fd, MANIFEST_TMP, st->fd, SLOTS_MANIFEST) < 0) {
		ret = io_error("rename", s, st->slot, MANIFEST_TMP);
		goto out;
	}
	if (fsync(st->fd) < 0) {
		ret = io_error("sync", s, st->slot, "directory");
		goto out;
	}
out:
	if (fd >= 0)
		close(fd);
	if (ret)
		unlinkat(st->fd, MANIFEST_TMP, 0);
	strbuf_release(&m);
	st->dead = 1;
	return ret;
}

void slot_stage_free(struct slot_stage *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < st->n; i++)
		free(st->files[i].path);
	free(st->files);
	close(st->fd);
	free(st);
}

/* --- manifest reading and verification --------------------------------- */

struct manifest {
	char commit[65];
	char spec[65];
	struct staged *files;
	size_t n;
};

static void manifest_release(struct manifest *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->files[i].path);
	free(m->files);
	memset(m, 0, sizeof(*m));
}

/* Read the whole of an open file, up to max bytes; -1 with errno. */
static int read_capped(int fd, struct strbuf *sb, size_t max)
{
	for (;;) {
		ssize_t n;

		strbuf_grow(sb, 8192);
		n = read(fd, sb->buf + sb->len, 8192);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			return 0;
		strbuf_setlen(sb, sb->len + (size_t)n);
		if (sb->len > max) {
			errno = EFBIG;
			return -1;
		}
	}
}

/* Parse a manifest; 0 if it is valid and complete, -1 otherwise. */
static int manifest_parse(struct manifest *m, char *text, size_t len)
{
	char *p = text, *end = text + len, *nl;
	size_t alloc = 0, count;
	int state = 0;

	if (memchr(text, '\0', len))
		return -1;
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			return -1; /* a truncated last line */
		*nl = '\0';
		if (state == 0) {
			if (strcmp(p, "furrow-slot 1"))
				return -1;
			state = 1;
		} else if (state == 1) {
			if (strncmp(p, "commit ", 7) || !is_hex(p + 7, 1, 64))
				return -1;
			snprintf(m->commit, sizeof(m->commit), "%s", p + 7);
			state = 2;
		} else if (state == 2) {
			if (strncmp(p, "spec ", 5) || !is_hex(p + 5, 64, 64))
				return -1;
			snprintf(m->spec, sizeof(m->spec), "%s", p + 5);
			state = 3;
		} else if (state == 3 && !strncmp(p, "file ", 5)) {
			struct staged f;
			char *q = p + 5, *e;
			unsigned long mode;
			unsigned long long size;

			if (strlen(q) < 66 || q[64] != ' ')
				return -1;
			q[64] = '\0';
			if (!is_hex(q, 64, 64))
				return -1;
			memcpy(f.sha, q, 65);
			q += 65;
			errno = 0;
			mode = strtoul(q, &e, 8);
			if (e == q || *e != ' ' || mode > 0777 || errno)
				return -1;
			q = e + 1;
			size = strtoull(q, &e, 10);
			if (e == q || *e != ' ' || errno || size > LIMIT_SLOT_BYTES)
				return -1;
			q = e + 1;
			if (repopath_check(q) < 0 || m->n >= LIMIT_SLOT_FILES ||
			    (m->n && strcmp(m->files[m->n - 1].path, q) >= 0))
				return -1;
			if (m->n == alloc) {
				alloc = alloc ? 2 * alloc : 64;
				m->files = xrealloc(m->files, alloc * sizeof(*m->files));
			}
			f.path = xstrdup(q);
			f.mode = (mode_t)mode;
			f.size = size;
			m->files[m->n++] = f;
		} else if (state == 3 && !strncmp(p, "end ", 4)) {
			char *e;

			errno = 0;
			count = strtoul(p + 4, &e, 10);
			if (e == p + 4 || *e || errno || count != m->n)
				return -1;
			state = 4;
		} else {
			return -1;
		}
		p = nl + 1;
	}
	return state == 4 ? 0 : -1;
}

/* Load slotfd's manifest: 0 valid, 1 missing/invalid, <0 I/O error. */
static int manifest_load(struct manifest *m, int slotfd, const char *where)
{
	struct strbuf sb = STRBUF_INIT;
	int fd, ret;

	memset(m, 0, sizeof(*m));
	fd = openat(slotfd, SLOTS_MANIFEST, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
		    O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ELOOP)
			return 1;
		return error_errno(FURROW_EIO, "%s: cannot open %s", where,
				   SLOTS_MANIFEST);
	}
	ret = 1;
	if (read_capped(fd, &sb, LIMIT_SLOT_MANIFEST_BYTES) < 0) {
		if (errno != EFBIG && errno != EISDIR)
			ret = error_errno(FURROW_EIO, "%s: cannot read %s", where,
					  SLOTS_MANIFEST);
	} else if (manifest_parse(m, sb.buf, sb.len) == 0) {
		ret = 0;
	}
	if (ret)
		manifest_release(m);
	close(fd);
	strbuf_release(&sb);
	return ret;
}

static void add_drift(struct slot_report *r, enum slot_drift_kind kind,
		      const char *path)
{
	if (r->ndrift >= LIMIT_SLOT_DRIFT) {
		r->truncated = 1;
		return;
	}
	r->drift = xrealloc(r->drift, (r->ndrift + 1) * sizeof(*r->drift));
	r->drift[r->ndrift].kind = kind;
	r->drift[r->ndrift].path = xstrdup(path);
	r->ndrift++;
}

/* Check one listed file: 0 same, 1 missing, 2 changed, <0 I/O error. */
static int check_file(int slotfd, const struct staged *f, const char *where)
{
	const char *leaf;
	struct stat st;
	char sha[65];
	int dfd, fd, ret;

	dfd = open_parent(slotfd, f->path, 0, &leaf);
	if (dfd < 0)
		return errno == ENOENT ? 1 : 2; /* ELOOP, ENOTDIR: not a dir */
	fd = openat(dfd, leaf, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		ret = errno == ENOENT ? 1 : 2;
		if (ret == 1 && fstatat(dfd, leaf, &st, AT_SYMLINK_NOFOLLOW) == 0)
			ret = 2; /* a dangling symlink: there, but not a file */
		close(dfd);
		return ret;
	}
	close(dfd);
	if (fstat(fd, &st) < 0) {
		ret = error_errno(FURROW_EIO, "%s: cannot stat %s", where, f->path);
	} else if (!S_ISREG(st.st_mode) || (st.st_mode & 07777) != f->mode ||
		   (uint64_t)st.st_size != f->size) {
		ret = 2;
	} else {
		struct strbuf name = STRBUF_INIT;

		strbuf_addf(&name, "%s/%s", where, f->path);
		ret = verify_sha256_fd_hex(sha, fd, name.buf);
		strbuf_release(&name);
		if (!ret && strcmp(sha, f->sha))
			ret = 2;
	}
	close(fd);
	return ret;
}

static int listed(const struct manifest *m, const char *path)
{
	struct staged key = { .path = (char *)path };

	return bsearch(&key, m->files, m->n, sizeof(*m->files), staged_cmp) != NULL;
}

/* Report every non-directory below fd (closed here) not in m as extra. */
static int find_extra(int fd, struct strbuf *rel, unsigned depth,
		      const struct manifest *m, struct slot_report *r,
		      const char *where)
{
	DIR *d = fdopendir(fd);
	struct dirent *e;
	size_t base = rel->len;
	int ret = 0;

	if (!d) {
		close(fd);
		return error_errno(FURROW_EIO, "%s: cannot read %s", where,
				   rel->len ? rel->buf : ".");
	}
	while (!ret) {
		struct stat st;
		int sub;

		errno = 0;
		e = readdir(d);
		if (!e) {
			if (errno)
				ret = error_errno(FURROW_EIO, "%s: cannot read %s",
						  where, rel->len ? rel->buf : ".");
			break;
		}
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (depth == 1 && !strcmp(e->d_name, SLOTS_MANIFEST))
			continue;
		strbuf_setlen(rel, base);
		if (base)
			strbuf_addch(rel, '/');
		strbuf_addstr(rel, e->d_name);
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue; /* gone meanwhile */
		if (!S_ISDIR(st.st_mode)) {
			if (!listed(m, rel->buf))
				add_drift(r, SLOT_DRIFT_EXTRA, rel->buf);
			continue;
		}
		if (listed(m, rel->buf))
			continue; /* a directory where a file belongs: changed */
		if (depth >= LIMIT_SLOT_PATH_DEPTH) {
			add_drift(r, SLOT_DRIFT_EXTRA, rel->buf);
			continue;
		}
		sub = openat(dirfd(d), e->d_name, DIR_FLAGS);
		if (sub < 0)
			continue; /* replaced meanwhile */
		ret = find_extra(sub, rel, depth + 1, m, r, where);
	}
	strbuf_setlen(rel, base);
	closedir(d);
	return ret;
}

int slots_verify(struct slots *s, int slot, struct slot_report *report)
{
	struct strbuf where = STRBUF_INIT, rel = STRBUF_INIT;
	struct manifest m;
	unsigned char *verdict;
	int fd = -1, ret;

	memset(report, 0, sizeof(*report));
	if (slot != 'a' && slot != 'b')
		return error_set(FURROW_EINVAL, "app %s: no slot %c", s->app,
				 slot ? slot : '?');
	fd = openat(s->fd, slot_name(slot), DIR_FLAGS);
	if (fd < 0)
		return error_errno(errno == ENOENT ? FURROW_ENOENT : FURROW_EIO,
				   "app %s: cannot open slot %c", s->app, slot);
	strbuf_addf(&where, "app %s: slot %c", s->app, slot);
	ret = manifest_load(&m, fd, where.buf);
	if (ret) {
		if (ret > 0)
			ret = 0; /* incomplete */
		goto out;
	}
	report->complete = 1;
	memcpy(report->commit, m.commit, sizeof(m.commit));
	memcpy(report->spec_sha256, m.spec, sizeof(m.spec));
	report->files = m.n;
	/* One pass over the files; the report lists missing, then changed. */
	verdict = xcalloc(m.n ? m.n : 1, 1);
	for (size_t i = 0; i < m.n && !ret; i++) {
		int r = check_file(fd, &m.files[i], where.buf);

		if (r < 0)
			ret = r;
		else
			verdict[i] = (unsigned char)r;
	}
	for (int want = 1; want <= 2 && !ret; want++)
		for (size_t i = 0; i < m.n; i++)
			if (verdict[i] == want)
				add_drift(report, want == 1 ? SLOT_DRIFT_MISSING :
					  SLOT_DRIFT_CHANGED, m.files[i].path);
	free(verdict);
	if (!ret) {
		int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);

		if (dup_fd < 0)
			ret = error_errno(FURROW_EIO, "cannot duplicate descriptor");
		else
			ret = find_extra(dup_fd, &rel, 1, &m, report, where.buf);
	}
	manifest_release(&m);
out:
	if (ret)
		slot_report_release(report);
	close(fd);
	strbuf_release(&where);
	strbuf_release(&rel);
	return ret;
}

void slot_report_release(struct slot_report *report)
{
	for (size_t i = 0; i < report->ndrift; i++)
		free(report->drift[i].path);
	free(report->drift);
	memset(report, 0, sizeof(*report));
}

/* --- switching ------------------------------------------------------------ */

int slots_switch(struct slots *s, int slot)
{
	struct manifest m;
	int fd, ret;

	if (slot != 'a' && slot != 'b')
		return error_set(FURROW_EINVAL, "app %s: no slot %c", s->app,
				 slot ? slot : '?');
	if (slots_active(s) != slot) {
		fd = openat(s->fd, slot_name(slot), DIR_FLAGS);
		if (fd < 0)
			return error_errno(errno == ENOENT ? FURROW_EINVAL : FURROW_EIO,
					   "app %s: cannot switch to slot %c",
					   s->app, slot);
		ret = manifest_load(&m, fd, s->app);
		close(fd);
		if (ret < 0)
			return ret;
		if (ret > 0)
			return error_set(FURROW_EINVAL,
					 "app %s: slot %c is incomplete (no valid %s); not switching",
					 s->app, slot, SLOTS_MANIFEST);
		manifest_release(&m);
		if (unlinkat(s->fd, "current.tmp", 0) < 0 && errno != ENOENT)
			return error_errno(FURROW_EIO, "app %s: cannot remove %s/current.tmp",
					   s->app, s->path);
		if (symlinkat(slot_name(slot), s->fd, "current.tmp") < 0)
			return io_error("create", s, slot, "current.tmp");
		if (renameat(s->fd, "current.tmp", s->fd, "current") < 0) {
			ret = io_error("rename over current", s, slot, "current.tmp");
			unlinkat(s->fd, "current.tmp", 0);
			return ret;
		}
	}
	if (fsync(s->fd) < 0)
		return error_errno(FURROW_EIO, "app %s: cannot sync directory %s",
				   s->app, s->path);
	return 0;
}

/* --- removal --------------------------------------------------------------- */

int slots_unset_current(struct slots *s)
{
	if (unlinkat(s->fd, "current", 0) < 0 && errno != ENOENT)
		return error_errno(FURROW_EIO, "app %s: cannot remove %s/current",
				   s->app, s->path);
	if (fsync(s->fd) < 0)
		return error_errno(FURROW_EIO, "app %s: cannot sync directory %s",
				   s->app, s->path);
	return 0;
}

int slots_remove_entry(struct slots *s, const char *name)
{
	struct strbuf path = STRBUF_INIT;
	struct stat st;
	int fd, ret = 0;

	if (!*name || strchr(name, '/') || !strcmp(name, ".") ||
	    !strcmp(name, ".."))
		BUG("slots_remove_entry: bad name %s", name);
	if (fstatat(s->fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		return error_errno(FURROW_EIO, "app %s: cannot stat %s/%s",
				   s->app, s->path, name);
	}
	if (S_ISDIR(st.st_mode)) {
		fd = openat(s->fd, name, DIR_FLAGS);
		if (fd < 0)
			return error_errno(FURROW_EIO, "app %s: cannot open %s/%s",
					   s->app, s->path, name);
		strbuf_addf(&path, "%s/%s", s->path, name);
		ret = empty_dir(fd, &path, 1);
		strbuf_release(&path);
		if (!ret && unlinkat(s->fd, name, AT_REMOVEDIR) < 0 &&
		    errno != ENOENT)
			ret = error_errno(FURROW_EIO, "app %s: cannot remove "
					  "%s/%s", s->app, s->path, name);
	} else if (unlinkat(s->fd, name, 0) < 0 && errno != ENOENT) {
		ret = error_errno(FURROW_EIO, "app %s: cannot remove %s/%s",
				  s->app, s->path, name);
	}
	if (!ret && fsync(s->fd) < 0)
		ret = error_errno(FURROW_EIO, "app %s: cannot sync directory %s",
				  s->app, s->path);
	return ret;
}
