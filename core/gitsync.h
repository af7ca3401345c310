/*
 * gitsync.h - fetching desired state with libgit2 and reading it
 * straight from the object database (no checkout).
 *
 * The gitsync module (core/gitsync.c, gitsync_net.c, gitsync_read.c and
 * their private gitsync_int.h) is the only code that includes <git2.h>;
 * everything here speaks furrow's types.  Every int-returning function returns 0 (or what
 * it says) on success and a negative FURROW_E* code with the message
 * recorded (error.h) on failure.
 *
 * The repository is bare and private to furrow: <state_dir>/repo.git.  A
 * fetch stores the tip of the one configured ref in refs/furrow/fetched,
 * and only after checking that the tip commit is complete (every tree and
 * blob reachable from its root tree present), so that ref always names a
 * commit that can be read.  Which commit was last *applied* is recorded
 * elsewhere (LMDB); nothing here touches anything outside the repo dir
 * except moving a corrupt repo dir aside next to it (see gitsync_fetch()).
 *
 * Process-wide caveats, inherited from libgit2 1.5:
 *  - The CA location is a global libgit2 option; gitsync_fetch() sets it
 *    on every https fetch.  Fetch from one thread at a time.
 *  - furrow installs its own plain socket stream into libgit2 (connect and
 *    idle timeouts, a wall-clock deadline; libgit2 1.5 has none of its
 *    own), so the timeouts cover https, http and git:// alike.  Name
 *    resolution (getaddrinfo) is not covered; it has the resolver's own
 *    timeouts.  The caller (the unprivileged fetch child) should still
 *    kill a fetch that outlives its deadline.
 *  - git_libgit2_shutdown() is never called: libgit2 is initialised once
 *    per process and left to the exit.
 */
#ifndef FURROW_GITSYNC_H
#define FURROW_GITSYNC_H

#include <stddef.h>
#include <stdint.h>

#include "limits.h"

struct strbuf;
struct gitsync;

#define GITSYNC_OID_HEX 40 /* SHA-1 in hex */
#define GITSYNC_FETCHED_REF "refs/furrow/fetched"

/* "1.5.1", as reported by the linked libgit2 at run time. */
const char *gitsync_libgit2_version(void);

/*
 * Open the bare repository at dir, creating it (mode 0700, and its
 * directory) if missing.  The parent directory must exist.  A dir that
 * exists but does not open as a repository is treated as corrupt: it is
 * moved aside (see gitsync_fetch()) and a new one is created;
 * gitsync_recovered() then says so.  *out is the caller's; free with
 * gitsync_free().
 */
int gitsync_open(struct gitsync **out, const char *dir);
void gitsync_free(struct gitsync *gs);

/* Non-zero if this handle ever moved a corrupt repository aside. */
int gitsync_recovered(const struct gitsync *gs);

/*
 * Where to fetch from.  Only url and ref are required; zero means the
 * default (core/limits.h) for every number.  The strings are borrowed for
 * the duration of the call.
 *
 *  url   https://host[:port]/path, git://host[:port]/path, file:///path or
 *        an absolute local path.  http:// only with insecure set.  No
 *        credentials in the URL (use token_file), no ssh.
 *  ref   a full ref name at the remote, e.g. "refs/heads/main".  An
 *        annotated tag is peeled to its commit.
 *  ca_file  PEM bundle to verify the server with; NULL means the system
 *        bundle GITSYNC_SYSTEM_CA_FILE.  Never the bundle compiled into
 *        libgit2.  Certificate and host name are both verified (mbedTLS
 *        2.28 matches DNS names only, not IP-address SANs).
 *  token_file  a file holding a token, sent as the password of HTTP basic
 *        authentication (user `username`, default "furrow"), only over
 *        https and only when the server asks.  Trailing newline and
 *        spaces are dropped.  The token never appears in a message.
 *        Redirects to another host are never followed.
 *  progress  print objects and bytes to stderr while fetching, if stderr
 *        is a terminal.
 */
#define GITSYNC_SYSTEM_CA_FILE "/etc/ssl/certs/ca-certificates.crt"

struct gitsync_remote {
	const char *url;
	const char *ref;
	const char *ca_file;
	const char *token_file;
	/* The token itself, already read (by a parent that may read files
	 * this process cannot); takes precedence over token_file. */
	const char *token;
	const char *username;
	int insecure;
	int progress;
	unsigned connect_timeout; /* s, per address; LIMIT_GIT_CONNECT_SECONDS */
	unsigned idle_timeout;    /* s without a byte; LIMIT_GIT_IDLE_SECONDS */
	unsigned deadline;        /* s for the whole fetch; LIMIT_GIT_FETCH_SECONDS */
	uint64_t max_pack_bytes;  /* LIMIT_GIT_PACK_BYTES */
	unsigned max_objects;     /* LIMIT_GIT_PACK_OBJECTS */
};

struct gitsync_result {
	char tip[GITSYNC_OID_HEX + 1];      /* commit now in refs/furrow/fetched */
	char previous[GITSYNC_OID_HEX + 1]; /* what it was before; "" if none */
	int changed;         /* tip differs from previous */
	int recovered;       /* the local repo was corrupt, moved aside, refetched */
	uint64_t received_bytes;   /* pack bytes transferred */
	unsigned received_objects;
};

/*
 * Fetch remote->ref from remote->url into refs/furrow/fetched and fill
 * *out.  Errors: FURROW_EINVAL (bad url/ref/scheme, http:// without
 * insecure, unreadable ca_file/token_file), FURROW_ENOENT (the remote has
 * no such ref), FURROW_ELIMIT (pack bytes or object count over the cap;
 * the message names the limit), FURROW_ETIMEOUT (connect, idle or
 * deadline), FURROW_EIO (network, TLS or authentication failure; the
 * message carries libgit2's reason), FURROW_ERR (the fetched commit is
 * incomplete, or anything else).
 *
 * Corruption: if the fetch fails and the local repository is at fault
 * (refs/furrow/fetched no longer names a complete commit, an object read
 * by a gitsync_read function failed its checks, or the repo does not
 * open), the repo dir is renamed to "<dir>.corrupt-<unix time>", a new
 * one is created, the fetch is tried once more, out->recovered is set and
 * a "git.repo_corrupt" warning is logged.  A remote cannot trigger this:
 * a bad pack from the server leaves a healthy local repo alone.
 */
int gitsync_fetch(struct gitsync *gs, const struct gitsync_remote *remote,
		  struct gitsync_result *out);

/*
 * Offline sideload: import the `git bundle` file at bundle_path and point
 * refs/furrow/fetched at the commit its ref `ref` names, with the same
 * completeness check as gitsync_fetch().  The bundle's prerequisites must
 * already be present (FURROW_ENOENT otherwise); the pack is bounded by
 * LIMIT_GIT_PACK_BYTES and LIMIT_GIT_PACK_OBJECTS; the header by the
 * LIMIT_BUNDLE_* limits.  out->received_* count the pack.
 */
int gitsync_fetch_bundle(struct gitsync *gs, const char *bundle_path,
			 const char *ref, struct gitsync_result *out);

/* The commit refs/furrow/fetched names, into tip; FURROW_ENOENT if none. */
int gitsync_fetched(struct gitsync *gs, char tip[GITSYNC_OID_HEX + 1]);

/*
 * The raw commit object (headers, a blank line, the message) exactly as
 * stored, replacing out's contents: what a signature is checked against.
 * FURROW_EINVAL for a malformed oid or an object that is not a commit,
 * FURROW_ENOENT if absent, FURROW_ELIMIT over LIMIT_GIT_COMMIT_BYTES.
 */
int gitsync_commit_raw(struct gitsync *gs, const char *oid, struct strbuf *out);

struct gitsync_commit_info {
	int64_t time;     /* committer time, seconds since the epoch (UTC) */
	int tz_minutes;   /* committer's offset from UTC */
	/* First paragraph of the message on one line, control characters
	 * replaced by spaces, cut at LIMIT_GIT_SUMMARY_BYTES. */
	char summary[LIMIT_GIT_SUMMARY_BYTES + 1];
};
int gitsync_commit_info(struct gitsync *gs, const char *oid,
			struct gitsync_commit_info *out);

/*
 * *out = 1 if commit new_oid descends from old_oid or equals it, else 0.
 * Both must be present locally (FURROW_ENOENT).
 */
int gitsync_is_descendant(struct gitsync *gs, const char *new_oid,
			  const char *old_oid, int *out);

/*
 * Read the file at path in the tree of commit_oid into out (replacing
 * its contents), straight from the object database.
 *
 * Path rules (core/repopath.h): relative, no "", "." or ".." component,
 * no backslash.  Symlinks are refused wherever they occur on the path,
 * whatever they point at: a desired-state tree has no need of them and
 * following them safely would mean re-resolving against the tree.
 * Gitlinks (submodules) are refused.  All these, and a directory or
 * missing path, fail naming the path: FURROW_EINVAL (rule, symlink,
 * gitlink, not a file) or FURROW_ENOENT (missing).  A blob larger than
 * max, or a tree on the way with more than LIMIT_GIT_TREE_ENTRIES
 * entries, fails with FURROW_ELIMIT naming the path and the limit; the
 * size is read from the object header, so an oversized blob is never
 * inflated.
 */
int gitsync_read_blob(struct gitsync *gs, const char *commit_oid,
		      const char *path, size_t max, struct strbuf *out);

enum gitsync_entry_type {
	GITSYNC_FILE,       /* regular blob */
	GITSYNC_EXECUTABLE, /* blob, mode 100755 */
	GITSYNC_DIR,
	GITSYNC_SYMLINK,    /* listed, never followed */
	GITSYNC_GITLINK,    /* submodule commit; listed, never followed */
};

struct gitsync_entry {
	const char *name; /* valid during the callback only */
	enum gitsync_entry_type type;
	char oid[GITSYNC_OID_HEX + 1];
};

/* Return 0 to go on, non-zero to stop (gitsync_list_tree returns it). */
typedef int (*gitsync_entry_fn)(const struct gitsync_entry *e, void *arg);

/*
 * Call fn for each entry of directory dir ("" for the root) of the tree
 * of commit_oid, in tree order.  dir follows gitsync_read_blob()'s path
 * rules.  A directory with more than LIMIT_GIT_TREE_ENTRIES entries fails
 * with FURROW_ELIMIT before any callback.  Returns 0, fn's non-zero
 * return value, or an error.
 */
int gitsync_list_tree(struct gitsync *gs, const char *commit_oid,
		      const char *dir, gitsync_entry_fn fn, void *arg);

#endif
