/*
 * sync_tree.h - one directory of a fetched commit, every file below it,
 * read for the apply engine to stage into an app's slot (core/slots.h).
 *
 * The commit must already be fetched and verified (core/sync.h); this
 * file checks nothing about trust.  As everywhere in furrow, libgit2 runs
 * only in a confined child (core/child.h); the child sends the files back
 * as a value tree (core/valuecodec.h), and this process checks that tree
 * again from scratch (sync_tree_decode()) instead of trusting it: paths,
 * modes, order, counts and sizes.
 *
 * What is refused, with FURROW_EINVAL and a message naming the path
 * (except a path with control characters, which is described rather than
 * printed, as core/repopath.c does): a symlink or a gitlink (submodule)
 * anywhere below dir or on the way to it, a name that fails
 * repopath_check() (a newline or other control character, a backslash),
 * and a file or directory named SLOTS_MANIFEST (".furrow-slot") at any
 * level, since that name is reserved in every slot.  A whole app's files
 * are bounded by LIMIT_TREE_FILES and LIMIT_TREE_BYTES, the full path of
 * each (dir included) by LIMIT_GIT_PATH_BYTES and LIMIT_GIT_PATH_DEPTH:
 * FURROW_ELIMIT naming dir and the limit.  A directory holding no file at
 * all (only empty trees, which git itself never makes but a crafted
 * commit can) is not an error: it gives zero files.
 */
#ifndef FURROW_SYNC_TREE_H
#define FURROW_SYNC_TREE_H

#include <stddef.h>

struct config;
struct value;

struct tree_file {
	char *path;    /* relative to dir, "/"-separated, repopath rules */
	unsigned mode; /* 0755 for an executable blob (100755), else 0644 */
	char *data;    /* len bytes, may hold NULs; NUL-terminated after them */
	size_t len;
};

struct tree_files {
	struct tree_file *files; /* sorted by path, bytewise (strcmp) */
	size_t count;            /* at most LIMIT_TREE_FILES */
	size_t bytes;            /* sum of len, at most LIMIT_TREE_BYTES */
};

/*
 * Read directory dir of commit (40 lower-case hex digits) from the
 * repository sync uses, <cfg->state_dir>/git/repo.git; only
 * cfg->state_dir is read.  dir is a repository path as an app spec
 * writes it ("apps/web"), following repopath rules; "" and "." are
 * refused (a whole repository is never an app's files).  Arguments are
 * checked before any child runs.
 *
 * Returns 0 with out filled, or: FURROW_EINVAL (bad commit id or dir, dir
 * is a file, anything refused above), FURROW_ENOENT (nothing fetched yet;
 * the commit is absent; "apps/web: no such directory in commit <12 hex>"),
 * FURROW_ELIMIT (a limit above, or the child's time or output cap),
 * FURROW_ESYNTAX (the child's result is malformed), FURROW_EIO or
 * FURROW_ERR (the child or the repository failed).  Release out with
 * tree_files_release() in every case.
 */
int sync_read_tree(struct tree_files *out, const struct config *cfg,
		   const char *commit, const char *dir);

/* Free what out holds and zero it; safe on a zeroed or released one. */
void tree_files_release(struct tree_files *t);

/*
 * The parent's half, exposed so that tests and fuzz targets can feed it
 * hostile trees: turn the child's decoded result v into out, trusting
 * nothing.  v must be { files = { [path] = { mode = n, data = { chunk,
 * ... } } } }, every path a string without NULs, strictly ascending,
 * valid under repopath rules also when joined to dir, free of
 * SLOTS_MANIFEST components, and never both a file and the directory of
 * another file; mode 0644 or 0755 and nothing else in a file's table;
 * data an array (keys 1..n) of strings, concatenated.  Counts and total
 * size are checked against the limits before anything is copied.
 * Returns 0, FURROW_ESYNTAX (wrong shape, disorder, duplicate),
 * FURROW_EINVAL (a path or mode refused) or FURROW_ELIMIT; on failure out
 * is left empty.  dir must already be a valid dir (see sync_read_tree()).
 */
int sync_tree_decode(struct tree_files *out, const struct value *v,
		     const char *dir);

/*
 * The Git object id (40 hex) of each of paths (repository paths: an
 * app's files directory or unit file) in commit, read in one confined
 * child: a table path -> id, without the paths that do not exist there
 * (or are symlinks or submodules).  *out is the caller's (value_free()).
 */
int sync_tree_ids(struct value **out, const struct config *cfg,
		  const char *commit, const char *const *paths, size_t n);

#endif
