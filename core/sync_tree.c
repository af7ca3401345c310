/*
 * sync_tree.c - read an app's directory of a commit in a confined child,
 * check it again here (see sync_tree.h).
 *
 * The child first lists the whole directory tree (cheap: tree objects
 * only), refusing what sync_tree.h refuses and counting files, so an
 * over-count or a symlink fails before any blob is inflated; then it reads
 * the blobs, each bounded by what is left of LIMIT_TREE_BYTES (an
 * oversized blob is refused from its object header).  Its result:
 *
 *   { files = { [path] = { data = { chunk, ... }, mode = n } } }
 *
 * Data travels in chunks because the decoder caps one string at
 * LIMIT_VALUE_STRING_BYTES.  The child runs exactly like sync.c's read
 * child (same user, limits and repository path).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bug.h"
#include "child.h"
#include "config.h"
#include "error.h"
#include "gitsync.h"
#include "limits.h"
#include "repopath.h"
#include "slots.h"
#include "strbuf.h"
#include "sync_tree.h"
#include "valuecodec.h"
#include "banned.h"

#define CHUNK_BYTES LIMIT_VALUE_STRING_BYTES

/*
 * The encoded result must fit the child pipe.  Per file: the path (at
 * most LIMIT_GIT_PATH_BYTES) and 42 bytes of tags, lengths and the keys
 * "data" and "mode", rounded up to 128.  Per chunk: a key and a string
 * header, 14 bytes, rounded up to 16; a file has at most len / CHUNK + 1
 * chunks.  The frame head is a few dozen bytes; 4096 covers it.
 */
_Static_assert((unsigned long long)LIMIT_TREE_BYTES +
	       (unsigned long long)LIMIT_TREE_FILES * (LIMIT_GIT_PATH_BYTES + 128) +
	       ((unsigned long long)LIMIT_TREE_FILES +
		LIMIT_TREE_BYTES / CHUNK_BYTES + 1) * 16 + 4096 <=
	       LIMIT_CHILD_OUTPUT_BYTES,
	       "LIMIT_TREE_* files and their encoding must fit LIMIT_CHILD_OUTPUT_BYTES");

/* ---- the child: list, then read ------------------------------------------ */

struct tree_job {
	const char *repo;
	const char *commit;
	const char *dir;
};

struct tree_walk {
	struct gitsync *gs;
	const struct tree_job *job;
	struct strbuf rel;       /* "" or "sub/dir/", below job->dir */
	char **subdirs;          /* of the directory being listed */
	size_t subdir_count, subdir_alloc;
	struct value *files;     /* path -> { mode = n }, as listed */
	size_t entries;
};

static int walk_entry(const struct gitsync_entry *e, void *arg)
{
	struct tree_walk *w = arg;
	const char *dir = w->job->dir;
	struct strbuf full = STRBUF_INIT;
	int ret = 0;

	if (++w->entries > LIMIT_GIT_WALK_ENTRIES)
		return error_set(FURROW_ELIMIT, "%s: more than %u tree entries "
				 "(LIMIT_GIT_WALK_ENTRIES)", dir,
				 LIMIT_GIT_WALK_ENTRIES);
	strbuf_addf(&full, "%s/%s%s", dir, w->rel.buf, e->name);
	/* A name holding "/" would alias another path: a forged tree. */
	if (strchr(e->name, '/') || (ret = repopath_check(full.buf))) {
		ret = ret ? error_prefix(ret, "%s", dir) :
		      error_set(FURROW_EINVAL, "%s: a tree entry name holds "
				"\"/\"", dir);
	} else if (!strcmp(e->name, SLOTS_MANIFEST)) {
		ret = error_set(FURROW_EINVAL, "%s: the name %s is reserved for "
				"furrow's slot manifest", full.buf, SLOTS_MANIFEST);
	} else if (e->type == GITSYNC_SYMLINK) {
		ret = error_set(FURROW_EINVAL, "%s: a symlink; symlinks are "
				"refused in an app's files", full.buf);
	} else if (e->type == GITSYNC_GITLINK) {
		ret = error_set(FURROW_EINVAL, "%s: a submodule (gitlink); "
				"submodules are refused in an app's files",
				full.buf);
	} else if (e->type == GITSYNC_DIR) {
		if (w->subdir_count == w->subdir_alloc) {
			w->subdir_alloc = w->subdir_alloc ? 2 * w->subdir_alloc : 8;
			w->subdirs = xrealloc(w->subdirs, w->subdir_alloc *
					      sizeof(*w->subdirs));
		}
		w->subdirs[w->subdir_count++] = xstrdup(e->name);
	} else if (w->files->u.table.count >= LIMIT_TREE_FILES) {
		ret = error_set(FURROW_ELIMIT, "%s: more than %u files "
				"(LIMIT_TREE_FILES)", dir, LIMIT_TREE_FILES);
	} else {
		struct value *f = value_put(w->files, full.buf + strlen(dir) + 1);

		f->type = VALUE_TABLE;
		value_put_int(f, "mode", e->type == GITSYNC_EXECUTABLE ? 0755 : 0644);
	}
	strbuf_release(&full);
	return ret;
}

/* List job->dir + "/" + w->rel, then each subdirectory, depth first. */
static int walk_dir(struct tree_walk *w, int depth)
{
	struct strbuf list = STRBUF_INIT;
	size_t n, len = w->rel.len;
	char **subdirs;
	int ret;

	if (depth > LIMIT_GIT_PATH_DEPTH)
		return error_set(FURROW_ELIMIT, "%s: more than %d directories "
				 "deep (LIMIT_GIT_PATH_DEPTH)", w->job->dir,
				 LIMIT_GIT_PATH_DEPTH);
	w->subdirs = NULL;
	w->subdir_count = w->subdir_alloc = 0;
	strbuf_addf(&list, "%s/%s", w->job->dir, w->rel.buf);
	strbuf_setlen(&list, list.len - 1); /* the trailing "/" */
	ret = gitsync_list_tree(w->gs, w->job->commit, list.buf, walk_entry, w);
	strbuf_release(&list);
	subdirs = w->subdirs;
	n = w->subdir_count;
	for (size_t i = 0; i < n; i++) {
		if (!ret) {
			strbuf_addf(&w->rel, "%s/", subdirs[i]);
			ret = walk_dir(w, depth + 1);
			strbuf_setlen(&w->rel, len);
		}
		free(subdirs[i]);
	}
	free(subdirs);
	return ret;
}

struct find {
	const char *name;
	size_t len;
	enum gitsync_entry_type type;
};

static int find_entry(const struct gitsync_entry *e, void *arg)
{
	struct find *f = arg;

	if (strlen(e->name) != f->len || memcmp(e->name, f->name, f->len))
		return 0;
	f->type = e->type;
	return 1;
}

/* Walk down to dir one listing at a time, so that a missing, file,
 * symlink or gitlink component gets its own message. */
static int locate_dir(struct gitsync *gs, const char *commit, const char *dir)
{
	struct strbuf at = STRBUF_INIT;
	const char *p = dir;
	struct find f;
	int ret = 0;

	while (!ret && repopath_next(&p, &f.len)) {
		f.name = p;
		ret = gitsync_list_tree(gs, commit, at.buf, find_entry, &f);
		if (at.len)
			strbuf_addch(&at, '/');
		strbuf_add(&at, p, f.len);
		p += f.len;
		if (ret == 0)
			ret = error_set(FURROW_ENOENT, "%s: no such directory in "
					"commit %.12s", dir, commit);
		else if (ret == 1 && f.type == GITSYNC_DIR)
			ret = 0;
		else if (ret == 1)
			ret = error_set(FURROW_EINVAL, "%s: not a directory in "
					"commit %.12s (%s is a %s)", dir, commit,
					at.buf, f.type == GITSYNC_SYMLINK ?
					"symlink; symlinks are refused" :
					f.type == GITSYNC_GITLINK ?
					"submodule; submodules are refused" :
					"file");
	}
	strbuf_release(&at);
	return ret;
}

/* Read every listed file into its entry, bounded by LIMIT_TREE_BYTES. */
static int read_files(struct tree_walk *w)
{
	struct strbuf full = STRBUF_INIT, sb = STRBUF_INIT;
	size_t bytes = 0;
	int ret = 0;

	for (size_t i = 0; i < w->files->u.table.count && !ret; i++) {
		struct value_entry *e = &w->files->u.table.entries[i];
		struct value *data;

		strbuf_reset(&full);
		strbuf_addf(&full, "%s/%s", w->job->dir, e->key.u.string.ptr);
		ret = gitsync_read_blob(w->gs, w->job->commit, full.buf,
					LIMIT_TREE_BYTES - bytes, &sb);
		if (ret == FURROW_ELIMIT)
			ret = error_set(ret, "%s: files of more than %u bytes in "
					"all (LIMIT_TREE_BYTES), reached at %s",
					w->job->dir, LIMIT_TREE_BYTES, full.buf);
		if (ret)
			break;
		bytes += sb.len;
		data = value_put(&e->val, "data");
		data->type = VALUE_TABLE;
		for (size_t off = 0, k = 1; off < sb.len; off += CHUNK_BYTES, k++)
			value_set_string(value_table_add_int(data, (long long)k),
					 sb.buf + off, sb.len - off < CHUNK_BYTES ?
					 sb.len - off : CHUNK_BYTES);
		value_sort(&e->val);
	}
	strbuf_release(&full);
	strbuf_release(&sb);
	return ret;
}

static void tree_in_child(struct strbuf *out, void *arg)
{
	struct tree_walk w;
	struct value *t = value_new(VALUE_TABLE);
	int ret;

	memset(&w, 0, sizeof(w));
	w.job = arg;
	strbuf_init(&w.rel, 0);
	w.files = value_put(t, "files");
	w.files->type = VALUE_TABLE;
	if ((ret = gitsync_open(&w.gs, w.job->repo)) ||
	    (ret = locate_dir(w.gs, w.job->commit, w.job->dir)) ||
	    (ret = walk_dir(&w, 0)) || (ret = read_files(&w)))
		goto out;
	/* Distinct git names give distinct paths; a clash is a forged tree. */
	if (value_sort(w.files))
		ret = error_set(FURROW_EINVAL, "%s: two files with one path",
				w.job->dir);
out:
	if (ret)
		valuecodec_encode_error(out, ret, error_message());
	else
		valuecodec_encode(out, t);
	value_free(t);
	strbuf_release(&w.rel);
	gitsync_free(w.gs);
}

/* ---- the parent: check everything again ---------------------------------- */

void tree_files_release(struct tree_files *t)
{
	for (size_t i = 0; t->files && i < t->count; i++) {
		free(t->files[i].path);
		free(t->files[i].data);
	}
	free(t->files);
	memset(t, 0, sizeof(*t));
}

/* Is path[0..len) one of t's files?  (t is sorted.) */
static int has_file(const struct tree_files *t, const char *path, size_t len)
{
	size_t lo = 0, hi = t->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *q = t->files[mid].path;
		int c = strncmp(q, path, len);

		if (!c && !q[len])
			return 1;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* Check one file entry of the child's result and append it to out. */
static int decode_file(struct tree_files *out, const struct value_entry *e,
		       const char *dir, struct strbuf *full)
{
	const struct value *mode, *data;
	struct tree_file *f;
	const char *p;
	size_t len = 0, n;
	int ret;

	if (e->key.type != VALUE_STRING || strlen(e->key.u.string.ptr) !=
	    e->key.u.string.len || e->val.type != VALUE_TABLE)
		return error_set(FURROW_ESYNTAX, "%s: malformed file entry", dir);
	p = e->key.u.string.ptr;
	if (out->count && strcmp(out->files[out->count - 1].path, p) >= 0)
		return error_set(FURROW_ESYNTAX, "%s: file paths out of order or "
				 "repeated", dir);
	strbuf_reset(full);
	strbuf_addf(full, "%s/%s", dir, p);
	if ((ret = repopath_check(p)) || (ret = repopath_check(full->buf)))
		return error_prefix(ret, "%s", dir);
	for (const char *q = p; repopath_next(&q, &n); q += n)
		if (n == strlen(SLOTS_MANIFEST) && !memcmp(q, SLOTS_MANIFEST, n))
			return error_set(FURROW_EINVAL, "%s: the name %s is "
					 "reserved", full->buf, SLOTS_MANIFEST);
	mode = value_get(&e->val, "mode");
	data = value_get(&e->val, "data");
	if (e->val.u.table.count != 2 || !mode || mode->type != VALUE_INTEGER ||
	    !data || data->type != VALUE_TABLE ||
	    (data->u.table.count && !value_is_array(data)))
		return error_set(FURROW_ESYNTAX, "%s: malformed file entry",
				 full->buf);
	if (mode->u.integer != 0644 && mode->u.integer != 0755)
		return error_set(FURROW_EINVAL, "%s: mode %llo is neither 644 "
				 "nor 755", full->buf,
				 (unsigned long long)mode->u.integer);
	for (size_t i = 0; i < data->u.table.count; i++) {
		const struct value *c = &data->u.table.entries[i].val;

		if (c->type != VALUE_STRING)
			return error_set(FURROW_ESYNTAX, "%s: malformed file "
					 "data", full->buf);
		if (c->u.string.len > LIMIT_TREE_BYTES - out->bytes - len)
			return error_set(FURROW_ELIMIT, "%s: files of more than %u "
					 "bytes in all (LIMIT_TREE_BYTES)", dir,
					 LIMIT_TREE_BYTES);
		len += c->u.string.len;
	}
	f = &out->files[out->count++];
	f->path = xstrdup(p);
	f->mode = (unsigned)mode->u.integer;
	f->len = len;
	f->data = xmalloc(len + 1);
	len = 0;
	for (size_t i = 0; i < data->u.table.count; i++) {
		const struct value *c = &data->u.table.entries[i].val;

		memcpy(f->data + len, c->u.string.ptr, c->u.string.len);
		len += c->u.string.len;
	}
	f->data[len] = '\0';
	out->bytes += len;
	return 0;
}

int sync_tree_decode(struct tree_files *out, const struct value *v,
		     const char *dir)
{
	const struct value *files = v ? value_get(v, "files") : NULL;
	struct strbuf full = STRBUF_INIT;
	size_t n;
	int ret = 0;

	memset(out, 0, sizeof(*out));
	if (!files || files->type != VALUE_TABLE)
		return error_set(FURROW_ESYNTAX, "%s: malformed result", dir);
	n = files->u.table.count;
	if (n > LIMIT_TREE_FILES)
		return error_set(FURROW_ELIMIT, "%s: more than %u files "
				 "(LIMIT_TREE_FILES)", dir, LIMIT_TREE_FILES);
	out->files = n ? xcalloc(n, sizeof(*out->files)) : NULL;
	for (size_t i = 0; i < n && !ret; i++)
		ret = decode_file(out, &files->u.table.entries[i], dir, &full);
	/* "a" and "a/b" cannot both be files: git cannot say it, a slot
	 * cannot hold it. */
	for (size_t i = 0; i < out->count && !ret; i++) {
		const char *p = out->files[i].path;

		for (const char *s = strchr(p, '/'); s && !ret; s = strchr(s + 1, '/'))
			if (has_file(out, p, (size_t)(s - p)))
				ret = error_set(FURROW_EINVAL, "%s/%.*s: both a "
						"file and a directory", dir,
						(int)(s - p), p);
	}
	if (ret)
		tree_files_release(out);
	strbuf_release(&full);
	return ret;
}

int sync_read_tree(struct tree_files *out, const struct config *cfg,
		   const char *commit, const char *dir)
{
	/* As sync.c's read child: its time cap and its open-file count. */
	struct child_limits lim = { LIMIT_SYNC_READ_SECONDS * 1000u,
				    LIMIT_CHILD_OUTPUT_BYTES, 0,
				    2 * LIMIT_GIT_PACK_BYTES, 1,
				    LIMIT_GIT_OPEN_FILES };
	struct strbuf repo = STRBUF_INIT, what = STRBUF_INIT, reply = STRBUF_INIT;
	struct tree_job job;
	struct value *v = NULL;
	int ret;

	memset(out, 0, sizeof(*out));
	if (!commit || strlen(commit) != GITSYNC_OID_HEX ||
	    strspn(commit, "0123456789abcdef") != GITSYNC_OID_HEX)
		return error_set(FURROW_EINVAL, "%s: not a %d-digit lower-case "
				 "hex commit id", commit ? commit : "(none)",
				 GITSYNC_OID_HEX);
	if (!dir || !*dir || !strcmp(dir, "."))
		return error_set(FURROW_EINVAL, "an app's files must be a "
				 "directory below the repository root, not the "
				 "whole repository");
	if ((ret = repopath_check(dir)))
		return error_prefix(ret, "app files directory");
	/* The same repository sync.c fetches into (its paths_init()). */
	strbuf_addf(&repo, "%s/git/repo.git", cfg->state_dir);
	if (access(repo.buf, F_OK) < 0) {
		ret = error_set(FURROW_ENOENT, "nothing fetched yet into %s (run "
				"furrow sync)", repo.buf);
		goto out;
	}
	job.repo = repo.buf;
	job.commit = commit;
	job.dir = dir;
	strbuf_addf(&what, "reading %s of commit %.12s", dir, commit);
	if ((ret = child_run(&reply, what.buf, tree_in_child, &job, &lim)) ||
	    (ret = valuecodec_decode(&v, what.buf, reply.buf, reply.len)))
		goto out;
	strbuf_release(&reply); /* up to 64 MiB: not held while copying */
	ret = sync_tree_decode(out, v, dir);
out:
	value_free(v);
	strbuf_release(&reply);
	strbuf_release(&what);
	strbuf_release(&repo);
	return ret;
}
