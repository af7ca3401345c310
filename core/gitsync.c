/*
 * gitsync.c - see gitsync.h.  libgit2 set-up, opening and recovering the
 * repository, the fetch and bundle entry points.  The network side lives
 * in gitsync_net.c, the object readers in gitsync_read.c; these three
 * files (with gitsync_int.h) are the only ones that include <git2.h>.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bug.h"
#include "bundle.h"
#include "error.h"
#include "gitsync_int.h"
#include "limits.h"
#include "log.h"
#include "strbuf.h"
#include "banned.h"

/* A file inside the repo dir that says "an object read through a present
 * commit failed": the next fetch then treats the repo as corrupt. */
#define SUSPECT_MARKER "furrow-suspect"

const char *gitsync_libgit2_version(void)
{
	static char buf[32];
	int major, minor, rev;

	if (!buf[0]) {
		git_libgit2_version(&major, &minor, &rev);
		snprintf(buf, sizeof(buf), "%d.%d.%d", major, minor, rev);
	}
	return buf;
}

int64_t gs_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *gs_lg2_message(void)
{
	const git_error *e = git_error_last();

	return e && e->message ? e->message : "unknown libgit2 error";
}

int gs_lg2_class(void)
{
	const git_error *e = git_error_last();

	return e ? e->klass : GIT_ERROR_NONE;
}

/* ---- libgit2 set-up, once per process ---- */

static pthread_once_t lg2_once = PTHREAD_ONCE_INIT;
static int lg2_rc;
static char lg2_msg[256];

static void lg2_init_once(void)
{
	static git_stream_registration reg = {
		.version = GIT_STREAM_VERSION, .init = gs_stream_new,
	};
	static const int levels[] = {
		GIT_CONFIG_LEVEL_PROGRAMDATA, GIT_CONFIG_LEVEL_SYSTEM,
		GIT_CONFIG_LEVEL_XDG, GIT_CONFIG_LEVEL_GLOBAL,
	};

	if ((lg2_rc = git_libgit2_init()) < 0)
		goto fail;
	/* The host's and the user's git config must not steer furrow
	 * (url.insteadOf, http.* settings): read only the repo's own. */
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		if ((lg2_rc = git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH,
					       levels[i], "")) < 0)
			goto fail;
	/* The repo is opened by exact path inside furrow's own state dir
	 * (no discovery), and the fetch child may run as another uid than
	 * the one that created it. */
	if ((lg2_rc = git_libgit2_opts(GIT_OPT_SET_OWNER_VALIDATION, 0)) < 0 ||
	    (lg2_rc = git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, 1)) < 0 ||
	    /* Edge hosts lose power: objects and refs reach the disk. */
	    (lg2_rc = git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1)) < 0 ||
	    /* A backstop for the per-fetch object cap in the callbacks. */
	    (lg2_rc = git_libgit2_opts(GIT_OPT_SET_PACK_MAX_OBJECTS,
				       (size_t)LIMIT_GIT_PACK_OBJECTS)) < 0 ||
	    (lg2_rc = git_libgit2_opts(GIT_OPT_SET_USER_AGENT, "furrow")) < 0 ||
	    (lg2_rc = git_stream_register(GIT_STREAM_STANDARD, &reg)) < 0)
		goto fail;
	return;
fail:
	snprintf(lg2_msg, sizeof(lg2_msg), "%s", gs_lg2_message());
}

static int lg2_init(void)
{
	pthread_once(&lg2_once, lg2_init_once);
	if (lg2_rc < 0)
		return error_set(FURROW_ERR, "libgit2 initialisation: %s", lg2_msg);
	return 0;
}

/* ---- opening, creating and recovering the repository ---- */

static int dir_is_empty(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int empty = 1;

	if (!d)
		return 0;
	while (empty && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			empty = 0;
	closedir(d);
	return empty;
}

static int repo_create(struct gitsync *gs)
{
	git_repository_init_options opts;

	git_repository_init_options_init(&opts, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
	if (mkdir(gs->dir, 0700) < 0 && errno != EEXIST)
		return error_errno(FURROW_EIO, "cannot create %s", gs->dir);
	if (chmod(gs->dir, 0700) < 0)
		return error_errno(FURROW_EIO, "cannot chmod %s", gs->dir);
	opts.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_NO_REINIT;
	if (git_repository_init_ext(&gs->repo, gs->dir, &opts) < 0)
		return error_set(FURROW_EIO, "cannot create repository %s: %s",
				 gs->dir, gs_lg2_message());
	return 0;
}

/* Rename the corrupt repo dir to <dir>.corrupt-<unix time>[-n] (kept for
 * an operator to look at, never deleted by furrow) and create a new one. */
static int repo_recover(struct gitsync *gs, const char *reason)
{
	struct strbuf aside = STRBUF_INIT;
	time_t now = time(NULL);
	int rc = 0;

	git_repository_free(gs->repo);
	gs->repo = NULL;
	for (int n = 0;; n++) {
		strbuf_reset(&aside);
		strbuf_addf(&aside, "%s.corrupt-%lld", gs->dir, (long long)now);
		if (n)
			strbuf_addf(&aside, "-%d", n);
		if (access(aside.buf, F_OK) < 0 && errno == ENOENT)
			break;
		if (n >= 100) {
			rc = error_set(FURROW_EIO, "cannot find a free name for %s",
				       aside.buf);
			goto out;
		}
	}
	if (rename(gs->dir, aside.buf) < 0) {
		rc = error_errno(FURROW_EIO, "cannot move corrupt repository %s aside",
				 gs->dir);
		goto out;
	}
	gs->recovered = 1;
	log_event(LOG_WARN, "git.repo_corrupt",
		  "local repository was corrupt; moved aside and re-created",
		  "dir", gs->dir, "moved_to", aside.buf, "reason", reason, NULL);
	rc = repo_create(gs);
out:
	strbuf_release(&aside);
	return rc;
}

static int repo_open(struct gitsync *gs)
{
	struct stat st;
	char reason[300];

	if (stat(gs->dir, &st) < 0) {
		if (errno != ENOENT)
			return error_errno(FURROW_EIO, "cannot stat %s", gs->dir);
		return repo_create(gs);
	}
	if (!S_ISDIR(st.st_mode))
		return error_set(FURROW_EINVAL, "%s exists and is not a directory",
				 gs->dir);
	if (git_repository_open_ext(&gs->repo, gs->dir,
				    GIT_REPOSITORY_OPEN_NO_SEARCH |
				    GIT_REPOSITORY_OPEN_BARE, NULL) == 0)
		return 0;
	if (dir_is_empty(gs->dir))
		return repo_create(gs);
	snprintf(reason, sizeof(reason), "does not open: %s", gs_lg2_message());
	return repo_recover(gs, reason);
}

int gitsync_open(struct gitsync **out, const char *dir)
{
	struct gitsync *gs;
	int rc;

	*out = NULL;
	if ((rc = lg2_init()) < 0)
		return rc;
	if (!dir || !*dir || strlen(dir) > LIMIT_PATH_BYTES - 64)
		return error_set(FURROW_EINVAL, "invalid repository directory");
	gs = xcalloc(1, sizeof(*gs));
	gs->dir = xstrdup(dir);
	/* A trailing slash would put "<dir>/.corrupt-..." inside the dir. */
	while (strlen(gs->dir) > 1 && gs->dir[strlen(gs->dir) - 1] == '/')
		gs->dir[strlen(gs->dir) - 1] = '\0';
	if ((rc = repo_open(gs)) < 0) {
		gitsync_free(gs);
		return rc;
	}
	*out = gs;
	return 0;
}

void gitsync_free(struct gitsync *gs)
{
	if (!gs)
		return;
	git_repository_free(gs->repo);
	free(gs->dir);
	free(gs);
}

int gitsync_recovered(const struct gitsync *gs)
{
	return gs->recovered;
}

void gs_suspect_mark(struct gitsync *gs)
{
	struct strbuf p = STRBUF_INIT;
	int fd;

	strbuf_addf(&p, "%s/%s", gs->dir, SUSPECT_MARKER);
	fd = open(p.buf, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0)
		close(fd);
	strbuf_release(&p);
}

static int suspect_marked(struct gitsync *gs)
{
	struct strbuf p = STRBUF_INIT;
	int yes;

	strbuf_addf(&p, "%s/%s", gs->dir, SUSPECT_MARKER);
	yes = access(p.buf, F_OK) == 0;
	strbuf_release(&p);
	return yes;
}

int gitsync_fetched(struct gitsync *gs, char tip[GITSYNC_OID_HEX + 1])
{
	git_oid oid;
	int lrc = git_reference_name_to_id(&oid, gs->repo, GITSYNC_FETCHED_REF);

	tip[0] = '\0';
	if (lrc == GIT_ENOTFOUND)
		return error_set(FURROW_ENOENT, "nothing fetched yet");
	if (lrc < 0)
		return error_set(FURROW_EIO, "%s: %s", GITSYNC_FETCHED_REF,
				 gs_lg2_message());
	gs_oid_hex(tip, &oid);
	return 0;
}

/* Local evidence of corruption: the marker, an unreadable ref, or a ref
 * whose commit is no longer complete.  Remote data cannot produce any of
 * these, so a hostile server cannot make furrow throw its repo away. */
static int local_unhealthy(struct gitsync *gs, struct strbuf *why)
{
	git_oid oid;
	int lrc, incomplete;

	if (suspect_marked(gs)) {
		strbuf_addstr(why, "an object read failed its checks");
		return 1;
	}
	lrc = git_reference_name_to_id(&oid, gs->repo, GITSYNC_FETCHED_REF);
	if (lrc == GIT_ENOTFOUND)
		return 0;
	if (lrc < 0) {
		strbuf_addf(why, "%s unreadable: %s", GITSYNC_FETCHED_REF,
			    gs_lg2_message());
		return 1;
	}
	if (gs_commit_complete(gs, &oid, &incomplete) < 0 && incomplete) {
		strbuf_addstr(why, error_message());
		return 1;
	}
	return 0;
}

/* The commit and its root tree can be read: a cheap sign that the pack
 * holding them is intact (a truncated or deleted pack fails here). */
static int commit_readable(struct gitsync *gs, const git_oid *oid)
{
	git_commit *commit = NULL;
	git_tree *tree = NULL;
	int ok;

	ok = git_commit_lookup(&commit, gs->repo, oid) == 0 &&
	     git_commit_tree(&tree, commit) == 0;
	git_tree_free(tree);
	git_commit_free(commit);
	return ok;
}

/* Point refs/furrow/fetched at a commit checked complete. */
int gs_set_fetched(struct gitsync *gs, const git_oid *oid,
		       struct gitsync_result *out, int *suspect)
{
	git_reference *ref = NULL;
	git_oid cur;
	int incomplete, rc;

	/* The ref is only ever set to a commit checked complete: the same
	 * tip again (a no-change fetch) needs no second walk of its tree.
	 * Damage found later by a reader marks the repo suspect instead. */
	if (git_reference_name_to_id(&cur, gs->repo, GITSYNC_FETCHED_REF) == 0 &&
	    git_oid_equal(&cur, oid) && commit_readable(gs, oid)) {
		gs_oid_hex(out->tip, oid);
		out->changed = strcmp(out->tip, out->previous) != 0;
		return 0;
	}
	if ((rc = gs_commit_complete(gs, oid, &incomplete)) < 0) {
		*suspect = incomplete;
		return rc;
	}
	if (git_reference_create(&ref, gs->repo, GITSYNC_FETCHED_REF, oid, 1,
				 "furrow: fetch") < 0) {
		*suspect = 1;
		return error_set(FURROW_EIO, "cannot update %s: %s",
				 GITSYNC_FETCHED_REF, gs_lg2_message());
	}
	git_reference_free(ref);
	gs_oid_hex(out->tip, oid);
	out->changed = strcmp(out->tip, out->previous) != 0;
	return 0;
}

static void ctx_init(struct fetch_ctx *c, const struct gitsync_remote *r)
{
	memset(c, 0, sizeof(*c));
	c->connect_s = r && r->connect_timeout ? r->connect_timeout : LIMIT_GIT_CONNECT_SECONDS;
	c->idle_s = r && r->idle_timeout ? r->idle_timeout : LIMIT_GIT_IDLE_SECONDS;
	c->deadline_s = r && r->deadline ? r->deadline : LIMIT_GIT_FETCH_SECONDS;
	c->max_bytes = r && r->max_pack_bytes ? r->max_pack_bytes : LIMIT_GIT_PACK_BYTES;
	c->max_objects = r && r->max_objects ? r->max_objects : LIMIT_GIT_PACK_OBJECTS;
	c->deadline_ms = gs_now_ms() + (int64_t)c->deadline_s * 1000;
	c->tty = r && r->progress && isatty(2);
}

/* Recover from local corruption if there is local evidence of it. */
static int maybe_recover(struct gitsync *gs, int force, const char *cause)
{
	struct strbuf why = STRBUF_INIT;
	int rc = 0;

	if (force)
		strbuf_addstr(&why, cause);
	if (force || local_unhealthy(gs, &why))
		rc = repo_recover(gs, why.buf) < 0 ? -1 : 1;
	strbuf_release(&why);
	return rc;
}

int gitsync_fetch(struct gitsync *gs, const struct gitsync_remote *r,
		  struct gitsync_result *out)
{
	struct fetch_ctx c;
	enum gs_scheme scheme;
	int rc, suspect = 0, rec;
	char saved[FURROW_ERROR_MAX];

	memset(out, 0, sizeof(*out));
	ctx_init(&c, r);
	c.url = r->url;
	c.user = r->username && *r->username ? r->username : "furrow";
	if ((rc = gs_url_check(r, &scheme)) < 0 || (rc = gs_ref_check(r->ref)) < 0)
		goto out;
	if ((r->token_file || r->token) && scheme != SCHEME_HTTPS) {
		rc = error_set(FURROW_EINVAL, "token_file is only sent over https://");
		goto out;
	}
	if (scheme == SCHEME_HTTPS) {
		/* Explicitly, every time: the bundle compiled into libgit2
		 * may not exist on this host, and libgit2 is silent then. */
		const char *ca = r->ca_file ? r->ca_file : GITSYNC_SYSTEM_CA_FILE;

		struct stat st;

		/* mbedTLS sizes its buffer with ftell(): a directory or a
		 * device would ask it for an absurd allocation. */
		if (stat(ca, &st) < 0 || access(ca, R_OK) < 0) {
			rc = error_errno(FURROW_EINVAL, "CA file %s", ca);
			goto out;
		}
		if (!S_ISREG(st.st_mode) || st.st_size > (off_t)LIMIT_GIT_CA_FILE_BYTES) {
			rc = error_set(FURROW_EINVAL,
				       "CA file %s is not a regular file of at most LIMIT_GIT_CA_FILE_BYTES (%u)",
				       ca, LIMIT_GIT_CA_FILE_BYTES);
			goto out;
		}
		if (git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, ca, NULL) < 0) {
			rc = error_set(FURROW_EINVAL, "CA file %s: %s", ca, gs_lg2_message());
			goto out;
		}
	}
	if (r->token)
		c.token = xstrdup(r->token);
	else if (r->token_file && (rc = gs_token_read(r->token_file, &c.token)) < 0)
		goto out;
	gs_active_ctx = &c;
	if (suspect_marked(gs)) {
		if ((rc = maybe_recover(gs, 1, "an object read failed its checks")) < 0)
			goto out;
		out->recovered = 1;
	}
	rc = gs_fetch_once(gs, r, &c, out, &suspect);
	if (rc < 0 && suspect && !out->recovered) {
		/* Keep the fetch's own message if the repo turns out fine. */
		memcpy(saved, error_message(), sizeof(saved));
		if ((rec = maybe_recover(gs, 0, NULL)) < 0) {
			rc = rec;
			goto out;
		}
		if (rec == 0) {
			error_set(rc, "%s", saved);
		} else {
			out->recovered = 1;
			rc = gs_fetch_once(gs, r, &c, out, &suspect);
		}
	}
out:
	gs_active_ctx = NULL;
	if (c.token) {
		explicit_bzero(c.token, strlen(c.token));
		free(c.token);
	}
	return rc;
}

/* ---- bundle sideload ---- */

static int bundle_import(struct gitsync *gs, int fd, const char *path,
			 const struct bundle_header *h, struct fetch_ctx *c,
			 uint64_t pack_len, int *suspect)
{
	git_odb *odb = NULL;
	git_odb_writepack *wp = NULL;
	char *buf = xmalloc(64 * 1024);
	uint64_t done = 0;
	int rc = 0;

	if (git_repository_odb(&odb, gs->repo) < 0 ||
	    git_odb_write_pack(&wp, odb, gs_on_transfer, c) < 0) {
		*suspect = 1;
		rc = error_set(FURROW_EIO, "object database: %s", gs_lg2_message());
		goto out;
	}
	if (lseek(fd, (off_t)h->pack_offset, SEEK_SET) < 0) {
		rc = error_errno(FURROW_EIO, "%s", path);
		goto out;
	}
	while (done < pack_len) {
		ssize_t n = read(fd, buf, 64 * 1024);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = error_errno(FURROW_EIO, "reading %s", path);
			goto out;
		}
		if (n == 0)
			break;
		done += (uint64_t)n;
		/* Checked here too: the indexer reports progress only per
		 * object, and one object can be large. */
		if (done > c->max_bytes) {
			rc = error_set(FURROW_ELIMIT,
				       "bundle %s: pack exceeds LIMIT_GIT_PACK_BYTES (%llu bytes)",
				       path, (unsigned long long)c->max_bytes);
			goto out;
		}
		if (wp->append(wp, buf, (size_t)n, &c->stats) < 0) {
			rc = c->err ? error_set(c->err, "bundle %s: %s", path, c->msg)
				    : error_set(FURROW_ERR, "bundle %s: %s", path,
						gs_lg2_message());
			goto out;
		}
	}
	if (wp->commit(wp, &c->stats) < 0)
		rc = c->err ? error_set(c->err, "bundle %s: %s", path, c->msg)
			    : error_set(FURROW_ERR, "bundle %s: %s", path, gs_lg2_message());
out:
	if (wp)
		wp->free(wp);
	git_odb_free(odb);
	free(buf);
	return rc;
}

int gitsync_fetch_bundle(struct gitsync *gs, const char *path, const char *ref,
			 struct gitsync_result *out)
{
	struct bundle_header h = { 0 };
	struct fetch_ctx c;
	const struct bundle_ref *br;
	struct stat st;
	char *head = NULL;
	size_t got = 0;
	git_odb *odb = NULL;
	git_oid want, tip;
	char magic[4];
	int fd = -1, rc, suspect = 0;

	memset(out, 0, sizeof(*out));
	ctx_init(&c, NULL);
	if ((rc = gs_ref_check(ref)) < 0)
		goto out;
	if ((rc = gitsync_fetched(gs, out->previous)) == FURROW_ENOENT)
		rc = 0;
	else if (rc < 0)
		goto out;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		rc = error_errno(errno == ENOENT ? FURROW_ENOENT : FURROW_EIO,
				 "bundle %s", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = error_set(FURROW_EINVAL, "bundle %s is not a regular file", path);
		goto out;
	}
	head = xmalloc(LIMIT_BUNDLE_HEADER_BYTES);
	while (got < LIMIT_BUNDLE_HEADER_BYTES) {
		ssize_t n = read(fd, head + got, LIMIT_BUNDLE_HEADER_BYTES - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = error_errno(FURROW_EIO, "reading %s", path);
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if ((rc = bundle_header_parse(&h, head, got)) < 0) {
		error_prefix(rc, "bundle %s", path);
		goto out;
	}
	if (!(br = bundle_header_find(&h, ref))) {
		rc = error_set(FURROW_ENOENT, "bundle %s has no ref %s", path, ref);
		goto out;
	}
	if (git_repository_odb(&odb, gs->repo) < 0) {
		rc = error_set(FURROW_EIO, "object database: %s", gs_lg2_message());
		goto out;
	}
	for (size_t i = 0; i < h.prereq_count; i++) {
		git_oid p;

		if (git_oid_fromstr(&p, h.prereqs[i]) < 0 || !git_odb_exists(odb, &p)) {
			rc = error_set(FURROW_ENOENT,
				       "bundle %s needs commit %s, which is not here; fetch or sideload its history first",
				       path, h.prereqs[i]);
			goto out;
		}
	}
	if (git_oid_fromstr(&want, br->oid) < 0) {
		rc = error_set(FURROW_ESYNTAX, "bundle %s: bad object id", path);
		goto out;
	}
	if ((uint64_t)st.st_size < h.pack_offset + 32 ||
	    pread(fd, magic, 4, (off_t)h.pack_offset) != 4 || memcmp(magic, "PACK", 4)) {
		rc = error_set(FURROW_ESYNTAX, "bundle %s: no packfile after the header",
			       path);
		goto out;
	}
	gs_active_ctx = &c;
	if (!git_odb_exists(odb, &want) &&
	    (rc = bundle_import(gs, fd, path, &h, &c,
				(uint64_t)st.st_size - h.pack_offset, &suspect)) < 0)
		goto out;
	out->received_bytes = c.stats.received_bytes;
	out->received_objects = c.stats.received_objects;
	if ((rc = gs_peel_commit(gs, &want, &tip)) < 0 ||
	    (rc = gs_set_fetched(gs, &tip, out, &suspect)) < 0)
		error_prefix(rc, "bundle %s", path);
out:
	gs_active_ctx = NULL;
	git_odb_free(odb);
	bundle_header_release(&h);
	free(head);
	if (fd >= 0)
		close(fd);
	return rc;
}

