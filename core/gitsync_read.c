/*
 * gitsync_read.c - reading commits, trees and blobs straight from the
 * object database, bounded before anything is inflated (see gitsync.h).
 */
#include <string.h>

#include "error.h"
#include "gitsync_int.h"
#include "limits.h"
#include "repopath.h"
#include "strbuf.h"
#include "banned.h"

/* ---- object ids and bounded object access ---- */

int gs_oid_parse(git_oid *out, const char *hex, const char *what)
{
	size_t n = hex ? strlen(hex) : 0;

	if (n != GITSYNC_OID_HEX)
		return error_set(FURROW_EINVAL, "%s: not a %d-digit object id",
				 what, GITSYNC_OID_HEX);
	for (size_t i = 0; i < n; i++)
		if (!((hex[i] >= '0' && hex[i] <= '9') ||
		      (hex[i] >= 'a' && hex[i] <= 'f')))
			return error_set(FURROW_EINVAL,
					 "%s: not a lower-case hex object id", what);
	if (git_oid_fromstr(out, hex) < 0)
		return error_set(FURROW_EINVAL, "%s: %s", what, gs_lg2_message());
	return 0;
}

void gs_oid_hex(char out[GITSYNC_OID_HEX + 1], const git_oid *oid)
{
	git_oid_tostr(out, GITSYNC_OID_HEX + 1, oid);
}

/*
 * Check an object's type and size from its header before anything
 * inflates it.  FURROW_ENOENT if absent (or unreadable, which is
 * reported by *broken when given), FURROW_EINVAL for the wrong type,
 * FURROW_ELIMIT over max (limit_name names it in the message).
 */
static int object_check(struct gitsync *gs, const git_oid *oid,
			git_object_t want, size_t max, const char *limit_name,
			const char *what, size_t *size_out)
{
	git_odb *odb = NULL;
	size_t size = 0;
	git_object_t type;
	char hex[GITSYNC_OID_HEX + 1];
	int rc = 0, lrc;

	gs_oid_hex(hex, oid);
	if (git_repository_odb(&odb, gs->repo) < 0) {
		rc = error_set(FURROW_EIO, "object database: %s", gs_lg2_message());
		goto out;
	}
	lrc = git_odb_read_header(&size, &type, odb, oid);
	if (lrc == GIT_ENOTFOUND) {
		rc = error_set(FURROW_ENOENT, "%s: object %s not found", what, hex);
		goto out;
	}
	if (lrc < 0) {
		rc = error_set(FURROW_EIO, "%s: object %s unreadable: %s", what,
			       hex, gs_lg2_message());
		goto out;
	}
	/* A truncated pack can yield a header of no valid type rather
	 * than an error: that is damage, not a type mismatch. */
	if (!git_object_typeisloose(type)) {
		rc = error_set(FURROW_EIO, "%s: object %s unreadable (damaged header)",
			       what, hex);
		goto out;
	}
	if (type != want) {
		rc = error_set(FURROW_EINVAL, "%s: object %s is a %s, not a %s",
			       what, hex, git_object_type2string(type),
			       git_object_type2string(want));
		goto out;
	}
	if (size_out)
		*size_out = size;
	if (size > max) {
		rc = error_set(FURROW_ELIMIT,
			       "%s: %s of %zu bytes exceeds %s (%zu bytes)", what,
			       git_object_type2string(type), size, limit_name, max);
		goto out;
	}
out:
	git_odb_free(odb);
	return rc;
}

static int commit_get(struct gitsync *gs, const git_oid *oid, const char *what,
		      git_commit **out)
{
	int rc = object_check(gs, oid, GIT_OBJECT_COMMIT, LIMIT_GIT_COMMIT_BYTES,
			      "LIMIT_GIT_COMMIT_BYTES", what, NULL);

	if (rc < 0)
		return rc;
	if (git_commit_lookup(out, gs->repo, oid) < 0)
		return error_set(FURROW_EIO, "%s: %s", what, gs_lg2_message());
	return 0;
}

static int tree_get(struct gitsync *gs, const git_oid *oid, const char *what,
		    git_tree **out)
{
	int rc = object_check(gs, oid, GIT_OBJECT_TREE, LIMIT_GIT_TREE_BYTES,
			      "LIMIT_GIT_TREE_BYTES", what, NULL);

	if (rc < 0)
		return rc;
	if (git_tree_lookup(out, gs->repo, oid) < 0)
		return error_set(FURROW_EIO, "%s: %s", what, gs_lg2_message());
	return 0;
}

/* ---- completeness: every object under a commit's root tree present ---- */

struct walk {
	struct gitsync *gs;
	git_odb *odb;
	size_t entries;
	int incomplete; /* an object is missing or unreadable */
};

static int walk_tree(struct walk *w, const git_oid *oid, unsigned depth)
{
	git_tree *tree = NULL;
	int rc;

	if (depth > LIMIT_GIT_PATH_DEPTH)
		return error_set(FURROW_ELIMIT,
				 "tree nested deeper than LIMIT_GIT_PATH_DEPTH (%u)",
				 (unsigned)LIMIT_GIT_PATH_DEPTH);
	if ((rc = tree_get(w->gs, oid, "tree", &tree)) < 0) {
		if (rc == FURROW_ENOENT || rc == FURROW_EIO)
			w->incomplete = 1;
		return rc;
	}
	for (size_t i = 0, n = git_tree_entrycount(tree); i < n && !rc; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);
		const git_oid *eoid = git_tree_entry_id(e);
		size_t size;
		git_object_t type;
		char hex[GITSYNC_OID_HEX + 1];

		if (++w->entries > LIMIT_GIT_WALK_ENTRIES) {
			rc = error_set(FURROW_ELIMIT,
				       "commit has more than LIMIT_GIT_WALK_ENTRIES (%u) tree entries",
				       LIMIT_GIT_WALK_ENTRIES);
			break;
		}
		switch (git_tree_entry_filemode(e)) {
		case GIT_FILEMODE_TREE:
			rc = walk_tree(w, eoid, depth + 1);
			break;
		case GIT_FILEMODE_COMMIT:
			break; /* a gitlink names another repository's commit */
		default:
			/* Reading the header opens the pack or inflates the
			 * start of the loose object: a truncated or missing
			 * file shows here, a 1 GiB blob costs nothing. */
			if (git_odb_read_header(&size, &type, w->odb, eoid) < 0 ||
			    type != GIT_OBJECT_BLOB) {
				gs_oid_hex(hex, eoid);
				w->incomplete = 1;
				rc = error_set(FURROW_ERR, "object %s (%s) is missing or unreadable: %s",
					       hex, git_tree_entry_name(e),
					       gs_lg2_message());
			}
		}
	}
	git_tree_free(tree);
	return rc;
}

/* 0 if commit oid and everything under its tree is present; on failure
 * *incomplete says whether objects are missing (vs. a limit). */
int gs_commit_complete(struct gitsync *gs, const git_oid *oid,
			   int *incomplete)
{
	struct walk w = { .gs = gs };
	git_commit *commit = NULL;
	char hex[GITSYNC_OID_HEX + 1];
	int rc;

	*incomplete = 0;
	gs_oid_hex(hex, oid);
	if ((rc = commit_get(gs, oid, "commit", &commit)) < 0) {
		*incomplete = rc == FURROW_ENOENT || rc == FURROW_EIO;
		goto out;
	}
	if (git_repository_odb(&w.odb, gs->repo) < 0) {
		rc = error_set(FURROW_EIO, "object database: %s", gs_lg2_message());
		goto out;
	}
	rc = walk_tree(&w, git_commit_tree_id(commit), 0);
	*incomplete = w.incomplete;
out:
	if (rc < 0)
		error_prefix(rc, "commit %s", hex);
	git_commit_free(commit);
	git_odb_free(w.odb);
	return rc;
}

/* Peel what the ref names (a commit, or an annotated tag) to a commit. */
int gs_peel_commit(struct gitsync *gs, const git_oid *oid, git_oid *out)
{
	git_object *obj = NULL, *peeled = NULL;
	int rc = 0;

	if (git_object_lookup(&obj, gs->repo, oid, GIT_OBJECT_ANY) < 0 ||
	    git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT) < 0)
		rc = error_set(FURROW_ERR, "fetched ref does not name a commit: %s",
			       gs_lg2_message());
	else
		git_oid_cpy(out, git_object_id(peeled));
	git_object_free(peeled);
	git_object_free(obj);
	return rc;
}


/* ---- readers ---- */

/* An object reached through a present commit failed to read: leave the
 * marker so that the next fetch looks at the repository. */
static int read_fail(struct gitsync *gs, int rc)
{
	if (rc == FURROW_ENOENT || rc == FURROW_EIO)
		gs_suspect_mark(gs);
	return rc;
}

int gitsync_commit_raw(struct gitsync *gs, const char *oid, struct strbuf *out)
{
	git_odb *odb = NULL;
	git_odb_object *obj = NULL;
	git_oid id;
	size_t size;
	int rc;

	if ((rc = gs_oid_parse(&id, oid, "commit")) < 0 ||
	    (rc = object_check(gs, &id, GIT_OBJECT_COMMIT, LIMIT_GIT_COMMIT_BYTES,
			       "LIMIT_GIT_COMMIT_BYTES", "commit", &size)) < 0)
		goto out;
	if (git_repository_odb(&odb, gs->repo) < 0 || git_odb_read(&obj, odb, &id) < 0) {
		rc = error_set(FURROW_EIO, "commit %s: %s", oid, gs_lg2_message());
		goto out;
	}
	if (git_odb_object_size(obj) != size) {
		rc = error_set(FURROW_EIO, "commit %s: size changed while reading", oid);
		goto out;
	}
	strbuf_reset(out);
	strbuf_add(out, git_odb_object_data(obj), size);
out:
	git_odb_object_free(obj);
	git_odb_free(odb);
	return rc;
}

int gitsync_commit_info(struct gitsync *gs, const char *oid,
			struct gitsync_commit_info *out)
{
	git_commit *commit = NULL;
	const char *summary;
	git_oid id;
	size_t n = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = gs_oid_parse(&id, oid, "commit")) < 0 ||
	    (rc = commit_get(gs, &id, "commit", &commit)) < 0)
		goto out;
	out->time = (int64_t)git_commit_time(commit);
	out->tz_minutes = git_commit_time_offset(commit);
	summary = git_commit_summary(commit);
	for (; summary && summary[n] && n < LIMIT_GIT_SUMMARY_BYTES; n++) {
		unsigned char ch = (unsigned char)summary[n];

		out->summary[n] = ch < ' ' || ch == 0x7f ? ' ' : (char)ch;
	}
	out->summary[n] = '\0';
out:
	git_commit_free(commit);
	return rc;
}

int gitsync_is_descendant(struct gitsync *gs, const char *new_oid,
			  const char *old_oid, int *out)
{
	git_oid n, o;
	int rc, lrc;

	*out = 0;
	if ((rc = gs_oid_parse(&n, new_oid, "new commit")) < 0 ||
	    (rc = gs_oid_parse(&o, old_oid, "old commit")) < 0 ||
	    (rc = object_check(gs, &n, GIT_OBJECT_COMMIT, LIMIT_GIT_COMMIT_BYTES,
			       "LIMIT_GIT_COMMIT_BYTES", "new commit", NULL)) < 0 ||
	    (rc = object_check(gs, &o, GIT_OBJECT_COMMIT, LIMIT_GIT_COMMIT_BYTES,
			       "LIMIT_GIT_COMMIT_BYTES", "old commit", NULL)) < 0)
		return rc;
	if (git_oid_equal(&n, &o)) {
		*out = 1;
		return 0;
	}
	lrc = git_graph_descendant_of(gs->repo, &n, &o);
	if (lrc < 0)
		return read_fail(gs, error_set(FURROW_EIO, "history of %s: %s",
					       new_oid, gs_lg2_message()));
	*out = lrc == 1;
	return 0;
}

static int entries_check(git_tree *tree, const char *path)
{
	size_t n = git_tree_entrycount(tree);

	if (n > LIMIT_GIT_TREE_ENTRIES)
		return error_set(FURROW_ELIMIT,
				 "directory \"%s\" has %zu entries, over LIMIT_GIT_TREE_ENTRIES (%u)",
				 *path ? path : "/", n, LIMIT_GIT_TREE_ENTRIES);
	return 0;
}

/*
 * Walk path from the root tree of commit_oid.  On success *mode and *oid
 * describe the last component (the root tree itself for "").  Symlinks and
 * gitlinks anywhere on the way are refused (see gitsync.h).
 */
static int resolve(struct gitsync *gs, const char *commit_oid, const char *path,
		   git_filemode_t *mode, git_oid *oid)
{
	git_commit *commit = NULL;
	git_tree *tree = NULL, *sub;
	struct strbuf done = STRBUF_INIT, name = STRBUF_INIT;
	const char *p = path;
	size_t len;
	git_oid id;
	int rc;

	if ((rc = gs_oid_parse(&id, commit_oid, "commit")) < 0 ||
	    (*path && (rc = repopath_check(path)) < 0) ||
	    (rc = commit_get(gs, &id, "commit", &commit)) < 0)
		goto out;
	*mode = GIT_FILEMODE_TREE;
	git_oid_cpy(oid, git_commit_tree_id(commit));
	while (repopath_next(&p, &len)) {
		const git_tree_entry *e;

		if (*mode != GIT_FILEMODE_TREE) {
			rc = error_set(FURROW_EINVAL, "path \"%s\": \"%s\" is not a directory",
				       path, done.buf);
			goto out;
		}
		if ((rc = tree_get(gs, oid, "tree", &sub)) < 0) {
			read_fail(gs, rc);
			error_prefix(rc, "path \"%s\"", path);
			goto out;
		}
		git_tree_free(tree);
		tree = sub;
		if ((rc = entries_check(tree, done.buf)) < 0)
			goto out;
		strbuf_reset(&name);
		strbuf_add(&name, p, len);
		if (done.len)
			strbuf_addch(&done, '/');
		strbuf_add(&done, p, len);
		p += len;
		if (!(e = git_tree_entry_byname(tree, name.buf))) {
			rc = error_set(FURROW_ENOENT, "path \"%s\": not found in commit %s",
				       path, commit_oid);
			goto out;
		}
		*mode = git_tree_entry_filemode(e);
		git_oid_cpy(oid, git_tree_entry_id(e));
		if (*mode == GIT_FILEMODE_LINK) {
			rc = error_set(FURROW_EINVAL,
				       "path \"%s\": \"%s\" is a symlink; symlinks are refused",
				       path, done.buf);
			goto out;
		}
		if (*mode == GIT_FILEMODE_COMMIT) {
			rc = error_set(FURROW_EINVAL,
				       "path \"%s\": \"%s\" is a submodule (gitlink); submodules are refused",
				       path, done.buf);
			goto out;
		}
	}
out:
	git_tree_free(tree);
	git_commit_free(commit);
	strbuf_release(&done);
	strbuf_release(&name);
	return rc;
}

int gitsync_read_blob(struct gitsync *gs, const char *commit_oid,
		      const char *path, size_t max, struct strbuf *out)
{
	git_odb *odb = NULL;
	git_odb_object *obj = NULL;
	git_filemode_t mode;
	git_oid oid;
	size_t size;
	int rc;

	if (!*path)
		return error_set(FURROW_EINVAL, "empty path");
	if ((rc = resolve(gs, commit_oid, path, &mode, &oid)) < 0)
		return rc;
	if (mode != GIT_FILEMODE_BLOB && mode != GIT_FILEMODE_BLOB_EXECUTABLE)
		return error_set(FURROW_EINVAL, "path \"%s\" is not a file", path);
	/* The size comes from the object header: a blob over max is refused
	 * without inflating it. */
	rc = object_check(gs, &oid, GIT_OBJECT_BLOB, max, "the limit", "file", &size);
	if (rc == FURROW_ELIMIT)
		return error_set(rc, "path \"%s\": file of %zu bytes exceeds the limit of %zu bytes",
				 path, size, max);
	if (rc < 0) {
		read_fail(gs, rc);
		return error_prefix(rc, "path \"%s\"", path);
	}
	if (git_repository_odb(&odb, gs->repo) < 0 || git_odb_read(&obj, odb, &oid) < 0) {
		rc = read_fail(gs, error_set(FURROW_EIO, "path \"%s\": %s", path,
					     gs_lg2_message()));
		goto out;
	}
	if (git_odb_object_size(obj) != size) {
		rc = error_set(FURROW_EIO, "path \"%s\": size changed while reading", path);
		goto out;
	}
	strbuf_reset(out);
	strbuf_add(out, git_odb_object_data(obj), size);
out:
	git_odb_object_free(obj);
	git_odb_free(odb);
	return rc;
}

int gitsync_list_tree(struct gitsync *gs, const char *commit_oid,
		      const char *dir, gitsync_entry_fn fn, void *arg)
{
	git_tree *tree = NULL;
	git_filemode_t mode;
	git_oid oid;
	int rc;

	if ((rc = resolve(gs, commit_oid, dir, &mode, &oid)) < 0)
		return rc;
	if (mode != GIT_FILEMODE_TREE)
		return error_set(FURROW_EINVAL, "path \"%s\" is not a directory", dir);
	if ((rc = tree_get(gs, &oid, "tree", &tree)) < 0) {
		read_fail(gs, rc);
		return error_prefix(rc, "directory \"%s\"", *dir ? dir : "/");
	}
	if ((rc = entries_check(tree, dir)) < 0)
		goto out;
	for (size_t i = 0, n = git_tree_entrycount(tree); i < n && !rc; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);
		struct gitsync_entry ent = { .name = git_tree_entry_name(e) };

		switch (git_tree_entry_filemode(e)) {
		case GIT_FILEMODE_TREE: ent.type = GITSYNC_DIR; break;
		case GIT_FILEMODE_BLOB_EXECUTABLE: ent.type = GITSYNC_EXECUTABLE; break;
		case GIT_FILEMODE_LINK: ent.type = GITSYNC_SYMLINK; break;
		case GIT_FILEMODE_COMMIT: ent.type = GITSYNC_GITLINK; break;
		default: ent.type = GITSYNC_FILE; break;
		}
		gs_oid_hex(ent.oid, git_tree_entry_id(e));
		rc = fn(&ent, arg);
	}
out:
	git_tree_free(tree);
	return rc;
}

