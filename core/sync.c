/*
 * sync.c - fetch in a confined child, verify here, record (see sync.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "allowed_signers.h"
#include "backoff.h"
#include "bug.h"
#include "child.h"
#include "desired.h"
#include "error.h"
#include "fileutil.h"
#include "gitsync.h"
#include "limits.h"
#include "log.h"
#include "repopath.h"
#include "strbuf.h"
#include "sync.h"
#include "valuecodec.h"
#include "verify.h"
#include "banned.h"

/* The uid/gid the fetch and read children run as when furrow is root
 * (core/child.c drops to it); the git directory belongs to it. */
#define CHILD_ID 65534

/* ---- small value-tree helpers for the child results --------------------- */

static const char *get_str(const struct value *t, const char *key, size_t *len)
{
	const struct value *v = value_get(t, key);

	if (!v || v->type != VALUE_STRING)
		return NULL;
	if (len)
		*len = v->u.string.len;
	return v->u.string.ptr;
}

static long long get_int(const struct value *t, const char *key)
{
	const struct value *v = value_get(t, key);

	return v && v->type == VALUE_INTEGER ? v->u.integer : 0;
}

/* A 40-hex commit id from a child: checked, since the child is not trusted. */
static int copy_oid(char out[SYNC_OID_HEX + 1], const char *s)
{
	if (!s || strlen(s) != SYNC_OID_HEX ||
	    strspn(s, "0123456789abcdef") != SYNC_OID_HEX)
		return error_set(FURROW_ESYNTAX, "fetch child sent a malformed "
				 "commit id");
	memcpy(out, s, SYNC_OID_HEX + 1);
	return 0;
}

/* ---- paths --------------------------------------------------------------- */

struct sync_paths {
	struct strbuf git_dir;  /* <state_dir>/git: owned by the child's uid */
	struct strbuf repo;     /* <state_dir>/git/repo.git */
	struct strbuf ca;       /* CA file the child reads */
	struct strbuf serial;   /* <state_dir>/serial */
};

static void paths_init(struct sync_paths *p, const char *state_dir)
{
	strbuf_init(&p->git_dir, 0);
	strbuf_init(&p->repo, 0);
	strbuf_init(&p->ca, 0);
	strbuf_init(&p->serial, 0);
	strbuf_addf(&p->git_dir, "%s/git", state_dir);
	strbuf_addf(&p->repo, "%s/git/repo.git", state_dir);
	strbuf_addf(&p->serial, "%s/serial", state_dir);
}

static void paths_release(struct sync_paths *p)
{
	strbuf_release(&p->git_dir);
	strbuf_release(&p->repo);
	strbuf_release(&p->ca);
	strbuf_release(&p->serial);
}

/*
 * Make the git directory usable by the child.  As root, the child runs as
 * CHILD_ID: it gets its own directory, and state_dir becomes traversable
 * (0711) but not listable, while db/ stays 0700 root.  Files the child
 * must read but may not be able to (a CA bundle readable by root only)
 * are copied into its directory.
 */
static int prepare_git_dir(struct sync_paths *p, const struct config *cfg)
{
	struct strbuf ca = STRBUF_INIT;
	int root = geteuid() == 0, ret = 0;
	struct stat st;

	if ((ret = file_mkdirs(cfg->state_dir, 0700)))
		return ret;
	if (mkdir(p->git_dir.buf, 0700) < 0 && errno != EEXIST)
		return error_errno(FURROW_EIO, "cannot create %s", p->git_dir.buf);
	if (root) {
		if (stat(cfg->state_dir, &st) == 0 && (st.st_mode & 0111) != 0111 &&
		    chmod(cfg->state_dir, (st.st_mode & 07777) | 0711) < 0)
			return error_errno(FURROW_EIO, "cannot chmod %s",
					   cfg->state_dir);
		if (chown(p->git_dir.buf, CHILD_ID, CHILD_ID) < 0)
			return error_errno(FURROW_EIO, "cannot chown %s",
					   p->git_dir.buf);
	}
	strbuf_reset(&p->ca);
	if (cfg->source.ca_file && root) {
		strbuf_addf(&p->ca, "%s/ca.pem", p->git_dir.buf);
		struct strbuf have = STRBUF_INIT;

		ret = strbuf_read_file(&ca, cfg->source.ca_file,
				       LIMIT_GIT_CA_FILE_BYTES);
		/* Rewrite (and fsync) only when the CA changed. */
		if (!ret) {
			int same = !strbuf_read_file(&have, p->ca.buf,
						     LIMIT_GIT_CA_FILE_BYTES) &&
				   have.len == ca.len &&
				   !memcmp(have.buf, ca.buf, ca.len);

			error_clear(); /* a missing copy is no error */
			if (!same)
				ret = file_write_atomic(p->ca.buf, ca.buf, ca.len,
							0644);
		}
		strbuf_release(&have);
	} else if (cfg->source.ca_file) {
		strbuf_addstr(&p->ca, cfg->source.ca_file);
	}
	strbuf_release(&ca);
	return ret;
}

/* ---- the fetch child ------------------------------------------------------- */

struct fetch_job {
	const char *repo;
	struct gitsync_remote remote;
	const char *bundle;
};

static void fetch_in_child(struct strbuf *out, void *arg)
{
	const struct fetch_job *job = arg;
	struct gitsync_result res;
	struct gitsync *gs = NULL;
	struct value *t = NULL;
	int ret;

	ret = gitsync_open(&gs, job->repo);
	if (!ret && job->bundle)
		ret = gitsync_fetch_bundle(gs, job->bundle, job->remote.ref, &res);
	else if (!ret)
		ret = gitsync_fetch(gs, &job->remote, &res);
	if (ret) {
		valuecodec_encode_error(out, ret, error_message());
		goto out;
	}
	t = value_new(VALUE_TABLE);
	value_put_strn(t, "tip", res.tip, strlen(res.tip));
	value_put_int(t, "recovered", res.recovered || gitsync_recovered(gs));
	value_put_int(t, "received_bytes", (long long)res.received_bytes);
	value_sort(t);
	valuecodec_encode(out, t);
out:
	value_free(t);
	gitsync_free(gs);
}

/* ---- the read child: a commit, its ancestry and some of its files --------- */

struct read_job {
	const char *repo;
	const char *rev;        /* NULL: refs/furrow/fetched */
	const char *ancestor;   /* check rev descends from this; NULL: skip */
	const char *const *paths;
	size_t path_count;
	int lua_files;          /* also read every .lua file, into "lua" */
};

/*
 * The .lua files furrow.lua may include: every regular blob of the tree
 * whose name ends in ".lua", except furrow.lua itself, outside hidden
 * directories (".git" and the like, as check --tree skips them).
 * Symlinks and gitlinks are never candidates, so an include of one finds
 * no file.  Bounded by the include limits and the tree walk limits.
 */
struct lua_walk {
	struct gitsync *gs;
	const char *tip;
	struct strbuf dir;      /* "" or "a/b/" */
	struct value *files;
	char **subdirs;         /* of the directory being listed */
	size_t subdir_count, subdir_alloc;
	size_t entries, file_count, bytes;
	struct strbuf sb;
};

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && !strcmp(s + n - m, suffix);
}

static int lua_walk_entry(const struct gitsync_entry *e, void *arg)
{
	struct lua_walk *w = arg;
	struct strbuf path = STRBUF_INIT;
	int ret = 0;

	if (++w->entries > LIMIT_GIT_WALK_ENTRIES)
		return error_set(FURROW_ELIMIT, "listing .lua files: more than "
				 "%u tree entries", LIMIT_GIT_WALK_ENTRIES);
	if (e->type == GITSYNC_DIR && e->name[0] != '.') {
		if (w->subdir_count == w->subdir_alloc) {
			w->subdir_alloc = w->subdir_alloc ? 2 * w->subdir_alloc : 8;
			w->subdirs = xrealloc(w->subdirs, w->subdir_alloc *
					      sizeof(*w->subdirs));
		}
		w->subdirs[w->subdir_count++] = xstrdup(e->name);
		return 0;
	}
	if ((e->type != GITSYNC_FILE && e->type != GITSYNC_EXECUTABLE) ||
	    !ends_with(e->name, ".lua") || !strcmp(e->name, ".lua"))
		return 0;
	strbuf_addf(&path, "%s%s", w->dir.buf, e->name);
	if (!strcmp(path.buf, "furrow.lua"))
		goto out;
	/* A name no include could spell is no candidate either. */
	if (repopath_check(path.buf)) {
		error_clear();
		goto out;
	}
	if (++w->file_count > LIMIT_DESIRED_INCLUDE_FILES) {
		ret = error_set(FURROW_ELIMIT, "more than %d .lua files in the "
				"tree (the limit of files furrow.lua may "
				"include from)", LIMIT_DESIRED_INCLUDE_FILES);
		goto out;
	}
	if ((ret = gitsync_read_blob(w->gs, w->tip, path.buf,
				     LIMIT_DESIRED_FILE_BYTES, &w->sb)))
		goto out;
	w->bytes += w->sb.len;
	if (w->bytes > LIMIT_DESIRED_INCLUDE_BYTES) {
		ret = error_set(FURROW_ELIMIT, "the .lua files of the tree are "
				"more than %u bytes in all (the limit of files "
				"furrow.lua may include from)",
				LIMIT_DESIRED_INCLUDE_BYTES);
		goto out;
	}
	value_put_strn(w->files, path.buf, w->sb.buf, w->sb.len);
out:
	strbuf_release(&path);
	return ret;
}

/* List w->dir, then each of its subdirectories, depth first. */
static int lua_walk_dir(struct lua_walk *w, int depth)
{
	struct strbuf list = STRBUF_INIT;
	char **subdirs;
	size_t n, len = w->dir.len;
	int ret;

	if (depth > LIMIT_GIT_PATH_DEPTH)
		return error_set(FURROW_ELIMIT, "listing .lua files: %s is more "
				 "than %d directories deep", w->dir.buf,
				 LIMIT_GIT_PATH_DEPTH);
	w->subdirs = NULL;
	w->subdir_count = w->subdir_alloc = 0;
	/* gitsync wants "" for the root and "a/b" below it. */
	strbuf_add(&list, w->dir.buf, len ? len - 1 : 0);
	ret = gitsync_list_tree(w->gs, w->tip, list.buf, lua_walk_entry, w);
	strbuf_release(&list);
	subdirs = w->subdirs;
	n = w->subdir_count;
	for (size_t i = 0; i < n; i++) {
		if (!ret && len + strlen(subdirs[i]) + 1 < LIMIT_GIT_PATH_BYTES) {
			strbuf_addf(&w->dir, "%s/", subdirs[i]);
			ret = lua_walk_dir(w, depth + 1);
			strbuf_setlen(&w->dir, len);
		}
		free(subdirs[i]);
	}
	free(subdirs);
	return ret;
}

static int read_lua_files(struct gitsync *gs, const char *tip,
			  struct value *files)
{
	struct lua_walk w;
	int ret;

	memset(&w, 0, sizeof(w));
	w.gs = gs;
	w.tip = tip;
	w.files = files;
	strbuf_init(&w.dir, 0);
	strbuf_init(&w.sb, 0);
	ret = lua_walk_dir(&w, 0);
	strbuf_release(&w.dir);
	strbuf_release(&w.sb);
	if (ret)
		return error_prefix(ret, "commit %s", tip);
	return 0;
}

static void read_in_child(struct strbuf *out, void *arg)
{
	const struct read_job *job = arg;
	struct gitsync_commit_info info;
	struct strbuf sb = STRBUF_INIT;
	char tip[GITSYNC_OID_HEX + 1];
	struct gitsync *gs = NULL;
	struct value *t = NULL, *files, *errors;
	int ret, descends = 0;

	if ((ret = gitsync_open(&gs, job->repo)))
		goto fail;
	if (job->rev) {
		snprintf(tip, sizeof(tip), "%s", job->rev);
	} else if ((ret = gitsync_fetched(gs, tip))) {
		goto fail;
	}
	t = value_new(VALUE_TABLE);
	value_put_strn(t, "commit", tip, strlen(tip));
	if ((ret = gitsync_commit_raw(gs, tip, &sb)))
		goto fail;
	value_put_strn(t, "raw", sb.buf, sb.len);
	if ((ret = gitsync_commit_info(gs, tip, &info)))
		goto fail;
	value_put_int(t, "time", info.time);
	value_put_strn(t, "summary", info.summary, strlen(info.summary));
	if (job->ancestor) {
		ret = gitsync_is_descendant(gs, tip, job->ancestor, &descends);
		/* The accepted commit missing from a re-fetched history is
		 * exactly a history that does not contain it. */
		if (ret == FURROW_ENOENT)
			descends = 0;
		else if (ret)
			goto fail;
		value_put_int(t, "descends", descends);
	}
	files = value_table_add_str(t, "files", 5);
	files->type = VALUE_TABLE;
	errors = value_table_add_str(t, "errors", 6);
	errors->type = VALUE_TABLE;
	for (size_t i = 0; i < job->path_count; i++) {
		const char *path = job->paths[i];

		ret = gitsync_read_blob(gs, tip, path, LIMIT_DESIRED_FILE_BYTES, &sb);
		if (ret)
			value_put_strn(errors, path, error_message(),
				strlen(error_message()));
		else
			value_put_strn(files, path, sb.buf, sb.len);
	}
	if (job->lua_files) {
		struct value *lua = value_table_add_str(t, "lua", 3);

		lua->type = VALUE_TABLE;
		if ((ret = read_lua_files(gs, tip, lua)))
			goto fail;
		value_sort(lua);
	}
	value_sort(files);
	value_sort(errors);
	value_sort(t);
	valuecodec_encode(out, t);
	goto out;
fail:
	strbuf_reset(out);
	valuecodec_encode_error(out, ret, error_message());
out:
	value_free(t);
	strbuf_release(&sb);
	gitsync_free(gs);
}

/* Run a child job and decode its result. */
static int run_job(struct value **out, const char *what, child_fn fn,
		   void *job, unsigned seconds)
{
	/* Files: the pack a fetch writes, bounded by the pack cap. */
	struct child_limits lim = { seconds * 1000u, LIMIT_CHILD_OUTPUT_BYTES, 0,
				    2 * LIMIT_GIT_PACK_BYTES, 1,
				    LIMIT_GIT_OPEN_FILES };
	struct strbuf reply = STRBUF_INIT;
	int ret;

	*out = NULL;
	ret = child_run(&reply, what, fn, job, &lim);
	if (!ret)
		ret = valuecodec_decode(out, what, reply.buf, reply.len);
	if (!ret && (*out)->type != VALUE_TABLE) {
		value_free(*out);
		*out = NULL;
		ret = error_set(FURROW_ESYNTAX, "%s: unexpected result", what);
	}
	strbuf_release(&reply);
	return ret;
}

/* Read rev (NULL: the fetched tip) with the given paths. */
static int read_commit(struct value **out, const char *repo, const char *rev,
		       const char *ancestor, const char *const *paths,
		       size_t n, int lua_files)
{
	struct read_job job = { repo, rev, ancestor, paths, n, lua_files };

	return run_job(out, "reading the fetched commit", read_in_child, &job,
		       LIMIT_SYNC_READ_SECONDS);
}

/* ---- verification ---------------------------------------------------------- */

static void signer_set(struct sync_signer *s, const struct verify_result *v)
{
	s->principal = xstrdup(v->principal);
	s->key_type = xstrdup(v->key_type);
	s->fingerprint = xstrdup(v->fingerprint);
}

static void signer_release(struct sync_signer *s)
{
	free(s->principal);
	free(s->key_type);
	free(s->fingerprint);
	memset(s, 0, sizeof(*s));
}

static int verify_commit_sig(struct sync_result *out, const struct config *cfg,
			     const struct value *commit)
{
	struct allowed_signers *trust = NULL;
	struct verify_result vr;
	const char *raw;
	size_t len;
	int ret;

	memset(&vr, 0, sizeof(vr));
	raw = get_str(commit, "raw", &len);
	if (!raw)
		return error_set(FURROW_ESYNTAX, "read child sent no commit");
	if ((ret = allowed_signers_load(&trust, cfg->trust.commit_signers)))
		return ret;
	ret = verify_commit(&vr, trust, raw, len, time(NULL));
	if (ret)
		ret = error_prefix(FURROW_EVERIFY, "commit %s", out->commit);
	else
		signer_set(&out->signer, &vr);
	verify_result_release(&vr);
	allowed_signers_free(trust);
	return ret;
}

/* Evaluate furrow.lua (already covered by a verified signature), with
 * the files it may include, for its serial and the policy files it
 * loads. */
static int read_summary(struct desired_summary **sum, struct sync_result *out,
			const struct value *commit)
{
	const struct value *files = value_get(commit, "files");
	const char *text, *err;
	size_t len;
	int ret;

	*sum = NULL;
	text = get_str(files, "furrow.lua", &len);
	if (!text) {
		err = get_str(value_get(commit, "errors"), "furrow.lua", NULL);
		return error_set(FURROW_EINVAL, "commit %s: no usable furrow.lua "
				 "at the root of the repository%s%s", out->commit,
				 err ? ": " : "", err ? err : "");
	}
	/* The other .lua files of the same commit, covered by the same
	 * signature: what furrow.lua may include. */
	if ((ret = desired_summary_load_tree(sum, "furrow.lua", text, len,
					     value_get(commit, "lua"))))
		return error_prefix(ret, "commit %s", out->commit);
	out->has_serial = (*sum)->has_serial;
	out->serial = (*sum)->serial;
	return 0;
}

static int verify_policies(struct sync_result *out, const struct config *cfg,
			   const struct desired_summary *sum, const char *repo)
{
	struct allowed_signers *trust = NULL;
	struct strbuf sig = STRBUF_INIT;
	const char **paths = NULL;
	struct value *got = NULL;
	size_t n = 0;
	int ret = 0;

	out->policies = xcalloc(sum->policy_count + 1, sizeof(*out->policies));
	paths = xcalloc(2 * sum->policy_count + 1, sizeof(*paths));
	for (size_t i = 0; i < sum->policy_count; i++) {
		struct sync_policy *p = &out->policies[out->policy_count++];

		p->path = xstrdup(sum->policies[i].name);
		p->builtin = !desired_policy_is_repo_file(&sum->policies[i]);
		if (p->builtin)
			continue;
		paths[n++] = sum->policies[i].name;
		strbuf_addf(&sig, "%s.sig", sum->policies[i].name);
		paths[n++] = strbuf_detach(&sig, NULL);
	}
	if (!n)
		goto out;
	if (!cfg->trust.policy_signers) {
		ret = error_set(FURROW_EVERIFY, "commit %s: furrow.lua loads the "
				"policy file %s, but no trust.policy_signers file "
				"is configured to check it", out->commit, paths[0]);
		goto out;
	}
	if ((ret = allowed_signers_load(&trust, cfg->trust.policy_signers)))
		goto out;
	if ((ret = read_commit(&got, repo, out->commit, NULL, paths, n, 0)))
		goto out;
	for (size_t i = 0; i < n; i += 2) {
		const struct value *files = value_get(got, "files");
		const struct value *errors = value_get(got, "errors");
		struct sync_policy *p = NULL;
		struct verify_result vr;
		const char *body, *armored, *err;
		size_t blen = 0, alen = 0;

		for (size_t j = 0; j < out->policy_count; j++)
			if (!strcmp(out->policies[j].path, paths[i]))
				p = &out->policies[j];
		body = get_str(files, paths[i], &blen);
		armored = get_str(files, paths[i + 1], &alen);
		if (!body || !armored) {
			const char *which = body ? paths[i + 1] : paths[i];

			err = get_str(errors, which, NULL);
			ret = error_set(FURROW_EVERIFY, "commit %s: policy %s: "
					"cannot read %s%s%s", out->commit, paths[i],
					which, err ? ": " : "", err ? err : "");
			goto out;
		}
		memset(&vr, 0, sizeof(vr));
		ret = verify_sshsig(&vr, trust, "furrow-policy", body, blen,
				    armored, alen, time(NULL));
		if (ret) {
			verify_result_release(&vr);
			ret = error_prefix(FURROW_EVERIFY, "commit %s: policy %s",
					   out->commit, paths[i]);
			goto out;
		}
		if (p && !p->signer.principal)
			signer_set(&p->signer, &vr);
		/* Keep the verified bytes: the planner runs exactly these,
		 * never a second read that could differ. */
		if (p && !p->source) {
			p->source = xmalloc(blen + 1);
			memcpy(p->source, body, blen);
			p->source[blen] = '\0';
			p->source_len = blen;
		}
		verify_result_release(&vr);
	}
out:
	for (size_t i = 1; i < n; i += 2)
		free((char *)paths[i]);
	free(paths);
	value_free(got);
	allowed_signers_free(trust);
	return ret;
}

/* Signature, then (for a sync) ancestry, then furrow.lua, then policies. */
static int verify_fetched(struct sync_result *out, const struct config *cfg,
			  const char *repo, const char *rev,
			  const char *ancestor, struct desired_summary **sum,
			  struct value **keep)
{
	/* The FREEZE files ride along when the caller keeps what was read
	 * (the planner): one read child instead of two. */
	static const char *const root[] = { "furrow.lua", "FREEZE",
					    "FREEZE.sig" };
	struct value *commit = NULL;
	int ret;

	*sum = NULL;
	if ((ret = read_commit(&commit, repo, rev, ancestor, root,
			       keep ? 3 : 1, 1)))
		goto out;
	if ((ret = copy_oid(out->commit, get_str(commit, "commit", NULL))))
		goto out;
	out->commit_time = get_int(commit, "time");
	out->summary = xstrdup(get_str(commit, "summary", NULL) ?
			       get_str(commit, "summary", NULL) : "");
	if ((ret = verify_commit_sig(out, cfg, commit)))
		goto out;
	if (ancestor && !get_int(commit, "descends")) {
		ret = error_set(FURROW_EVERIFY, "commit %s does not descend from "
				"the accepted commit %s: rollback or divergent "
				"history refused", out->commit, ancestor);
		goto out;
	}
	if ((ret = read_summary(sum, out, commit)))
		goto out;
	ret = verify_policies(out, cfg, *sum, repo);
	if (!ret && keep) {
		*keep = commit;
		commit = NULL;
	}
out:
	value_free(commit);
	return ret;
}

/* ---- the record ------------------------------------------------------------ */

#define K(s) s, sizeof(s) - 1

static int put_text(struct store_txn *t, const char *key, size_t klen,
		    const char *val)
{
	return store_put(t, "sync", key, klen, val, strlen(val));
}

static int put_num(struct store_txn *t, const char *key, size_t klen,
		   long long n)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%lld", n);
	return put_text(t, key, klen, buf);
}

struct fetch_record {
	int64_t now;
	int ok;
	const char *tip;
	const char *error;
};

static int record_fetch_txn(struct store_txn *t, void *arg)
{
	const struct fetch_record *r = arg;
	int ret;

	if ((ret = put_num(t, K("fetch_attempt_at"), r->now)))
		return ret;
	if (!r->ok)
		return put_text(t, K("fetch_error"), r->error);
	ret = store_del(t, "sync", K("fetch_error"));
	if (ret && ret != FURROW_ENOENT)
		return ret;
	if ((ret = put_num(t, K("fetch_ok_at"), r->now)))
		return ret;
	return put_text(t, K("fetched"), r->tip);
}

static int record_verify_failure_txn(struct store_txn *t, void *arg)
{
	return put_text(t, K("verify_error"), arg);
}

struct accept_record {
	const struct sync_result *res;
	long long serial_max;
	int64_t now;
};

static int record_accept_txn(struct store_txn *t, void *arg)
{
	const struct accept_record *a = arg;
	const struct sync_result *r = a->res;
	int ret;

	if ((ret = put_text(t, K("accepted"), r->commit)) ||
	    (ret = put_num(t, K("accepted_commit_time"), r->commit_time)) ||
	    (ret = put_num(t, K("accepted_at"), a->now)) ||
	    (ret = put_text(t, K("signer"), r->signer.principal)) ||
	    (ret = put_text(t, K("fingerprint"), r->signer.fingerprint)) ||
	    (ret = put_num(t, K("serial_max"), a->serial_max)))
		return ret;
	if (r->has_serial)
		ret = put_num(t, K("accepted_serial"), r->serial);
	else
		ret = store_del(t, "sync", K("accepted_serial"));
	if (ret && ret != FURROW_ENOENT)
		return ret;
	ret = store_del(t, "sync", K("verify_error"));
	return ret == FURROW_ENOENT ? 0 : ret;
}

/* The serial file: one decimal number and a newline.  Missing is 0. */
static int serial_file_read(const char *path, long long *out)
{
	struct strbuf sb = STRBUF_INIT;
	char *end;
	int ret;

	*out = 0;
	ret = strbuf_read_file(&sb, path, 64);
	if (ret == FURROW_ENOENT) {
		error_clear();
		ret = 0;
	} else if (!ret) {
		errno = 0;
		*out = strtoll(sb.buf, &end, 10);
		if (errno || end == sb.buf || (*end && *end != '\n') || *out < 0)
			ret = error_set(FURROW_ESYNTAX, "%s: not a serial number "
					"(remove it only if you mean to allow "
					"any serial)", path);
	}
	strbuf_release(&sb);
	return ret;
}

/* ---- state ------------------------------------------------------------------- */

static int load_each(const void *key, size_t klen, const void *val,
		     size_t vlen, void *arg)
{
	struct sync_state *s = arg;
	char k[32], v[FURROW_ERROR_MAX];

	if (klen >= sizeof(k))
		return 0;
	memcpy(k, key, klen);
	k[klen] = '\0';
	if (vlen >= sizeof(v))
		vlen = sizeof(v) - 1;
	memcpy(v, val, vlen);
	v[vlen] = '\0';
	if (!strcmp(k, "accepted") && vlen == SYNC_OID_HEX)
		memcpy(s->accepted, v, SYNC_OID_HEX + 1);
	else if (!strcmp(k, "fetched") && vlen == SYNC_OID_HEX)
		memcpy(s->fetched, v, SYNC_OID_HEX + 1);
	else if (!strcmp(k, "accepted_commit_time"))
		s->accepted_commit_time = strtoll(v, NULL, 10);
	else if (!strcmp(k, "accepted_at"))
		s->accepted_at = strtoll(v, NULL, 10);
	else if (!strcmp(k, "accepted_serial")) {
		s->has_serial = 1;
		s->accepted_serial = strtoll(v, NULL, 10);
	} else if (!strcmp(k, "serial_max"))
		s->serial_max = strtoll(v, NULL, 10);
	else if (!strcmp(k, "signer"))
		s->signer = xstrdup(v);
	else if (!strcmp(k, "fingerprint"))
		s->fingerprint = xstrdup(v);
	else if (!strcmp(k, "fetch_ok_at"))
		s->fetch_ok_at = strtoll(v, NULL, 10);
	else if (!strcmp(k, "fetch_attempt_at"))
		s->fetch_attempt_at = strtoll(v, NULL, 10);
	else if (!strcmp(k, "fetch_error"))
		s->fetch_error = xstrdup(v);
	else if (!strcmp(k, "verify_error"))
		s->verify_error = xstrdup(v);
	return 0;
}

static int load_txn(struct store_txn *t, void *arg)
{
	return store_foreach(t, "sync", NULL, 0, load_each, arg);
}

int sync_state_load(struct sync_state *out, struct store *st,
		    const char *state_dir)
{
	struct strbuf path = STRBUF_INIT;
	long long file_serial = 0;
	int ret;

	memset(out, 0, sizeof(*out));
	if ((ret = store_view(st, load_txn, out)))
		return ret;
	strbuf_addf(&path, "%s/serial", state_dir);
	ret = serial_file_read(path.buf, &file_serial);
	if (!ret && file_serial > out->serial_max)
		out->serial_max = file_serial;
	strbuf_release(&path);
	return ret;
}

void sync_state_release(struct sync_state *s)
{
	free(s->signer);
	free(s->fingerprint);
	free(s->fetch_error);
	free(s->verify_error);
	memset(s, 0, sizeof(*s));
}

/* ---- the whole sync ------------------------------------------------------------ */

static int retryable(int code)
{
	return code == FURROW_EIO || code == FURROW_ETIMEOUT ||
	       code == FURROW_ENOENT || code == FURROW_ERR;
}

static int fetch_with_retries(struct value **got, struct fetch_job *job,
			      struct store *st, const struct sync_options *o,
			      unsigned *attempts)
{
	struct fetch_record rec;
	struct backoff b;
	time_t deadline = time(NULL) + (time_t)o->wait_seconds;
	char msg[FURROW_ERROR_MAX];
	int ret;

	backoff_init(&b, LIMIT_SYNC_BACKOFF_BASE, LIMIT_SYNC_BACKOFF_CAP);
	for (;;) {
		++*attempts;
		ret = run_job(got, "fetch", fetch_in_child, job,
			      LIMIT_GIT_FETCH_SECONDS + 30);
		rec.now = time(NULL);
		rec.ok = !ret;
		rec.tip = ret ? NULL : get_str(*got, "tip", NULL);
		snprintf(msg, sizeof(msg), "%s", error_message());
		rec.error = msg;
		if (!ret && !rec.tip)
			return error_set(FURROW_ESYNTAX, "fetch child sent no tip");
		if (store_update(st, record_fetch_txn, &rec))
			log_event(LOG_WARN, "store.write_failed", error_message(),
				  NULL);
		if (!ret)
			return 0;
		error_set(ret, "%s", msg);
		if (!retryable(ret) || time(NULL) >= deadline)
			return ret;
		{
			double ceiling = backoff_ceiling(&b);
			double wait = backoff_next(&b);
			char secs[32], ceil_s[32], attempt[16];

			if (time(NULL) + (time_t)wait > deadline)
				wait = (double)(deadline - time(NULL));
			snprintf(secs, sizeof(secs), "%.1f", wait);
			snprintf(ceil_s, sizeof(ceil_s), "%.1f", ceiling);
			snprintf(attempt, sizeof(attempt), "%u", *attempts);
			log_event(LOG_WARN, "sync.fetch_failed", msg, "attempt",
				  attempt, "retry_in", secs, "retry_ceiling",
				  ceil_s, NULL);
			struct timespec ts = { (time_t)wait,
				(long)((wait - (double)(time_t)wait) * 1e9) };
			while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
				;
		}
	}
}

int sync_run(struct sync_result *out, const struct config *cfg,
	     struct store *st, const struct sync_options *o)
{
	struct desired_summary *sum = NULL;
	struct sync_state state;
	struct sync_paths p;
	struct strbuf token = STRBUF_INIT, bundle = STRBUF_INIT;
	struct value *got = NULL;
	struct fetch_job job;
	struct accept_record acc;
	long long serial_max;
	int ret;

	memset(out, 0, sizeof(*out));
	memset(&job, 0, sizeof(job));
	paths_init(&p, cfg->state_dir);
	if ((ret = sync_state_load(&state, st, cfg->state_dir)))
		goto out;
	if ((ret = prepare_git_dir(&p, cfg)))
		goto out;
	if (cfg->source.token_file) {
		/* Read here: the child may run as a user who cannot. */
		ret = strbuf_read_file(&token, cfg->source.token_file,
				       LIMIT_TOKEN_FILE_BYTES);
		while (!ret && token.len && strchr(" \t\r\n", token.buf[token.len - 1]))
			strbuf_setlen(&token, token.len - 1);
		if (ret)
			goto out;
	}
	job.repo = p.repo.buf;
	job.remote.url = cfg->source.url;
	job.remote.ref = cfg->source.ref;
	job.remote.ca_file = p.ca.len ? p.ca.buf : NULL;
	job.remote.token = cfg->source.token_file ? token.buf : NULL;
	job.remote.insecure = cfg->source.insecure;
	job.remote.progress = o->progress;
	job.remote.connect_timeout = (unsigned)cfg->source.timeout;
	job.remote.idle_timeout = (unsigned)cfg->source.timeout;
	if (o->bundle) {
		struct strbuf data = STRBUF_INIT;

		/* Staged into the child's directory, for the same reason. */
		strbuf_addf(&bundle, "%s/incoming.bundle", p.git_dir.buf);
		ret = strbuf_read_file(&data, o->bundle, LIMIT_GIT_PACK_BYTES +
				       LIMIT_BUNDLE_HEADER_BYTES);
		if (!ret)
			ret = file_write_atomic(bundle.buf, data.buf, data.len, 0644);
		strbuf_release(&data);
		if (ret)
			goto out;
		job.bundle = bundle.buf;
	}

	ret = fetch_with_retries(&got, &job, st, o, &out->attempts);
	if (bundle.len)
		unlink(bundle.buf);
	if (ret)
		goto out;
	out->recovered = (int)get_int(got, "recovered");
	memcpy(out->previous, state.accepted, sizeof(out->previous));

	ret = verify_fetched(out, cfg, p.repo.buf, get_str(got, "tip", NULL),
			     state.accepted[0] && !o->allow_downgrade ?
			     state.accepted : NULL, &sum, NULL);
	/* A commit without a serial counts as serial 0. */
	if (!ret && (out->has_serial ? out->serial : 0) < state.serial_max) {
		if (o->allow_downgrade)
			out->downgrade = 1;
		else
			ret = error_set(FURROW_EVERIFY, "commit %s has serial "
					"%lld, lower than %lld accepted before: "
					"refused (rollback protection)",
					out->commit, out->has_serial ? out->serial : 0,
					state.serial_max);
	}
	if (ret == FURROW_EVERIFY) {
		char msg[FURROW_ERROR_MAX];

		snprintf(msg, sizeof(msg), "%s", error_message());
		log_event(LOG_ERROR, "sync.verify_failed", msg, NULL);
		if (store_update(st, record_verify_failure_txn, msg))
			log_event(LOG_WARN, "store.write_failed", error_message(),
				  NULL);
		error_set(FURROW_EVERIFY, "%s", msg);
	}
	if (ret)
		goto out;
	if (o->allow_downgrade && state.accepted[0] &&
	    strcmp(state.accepted, out->commit))
		out->downgrade = 1;

	out->changed = strcmp(out->commit, state.accepted) != 0;
	serial_max = state.serial_max;
	if (out->has_serial && out->serial > serial_max)
		serial_max = out->serial;
	if (o->allow_downgrade && out->has_serial)
		serial_max = out->serial; /* the operator chose to go back */
	if (serial_max != state.serial_max || o->allow_downgrade) {
		char num[32];
		int n = snprintf(num, sizeof(num), "%lld\n", serial_max);

		/* The file first: a crash in between leaves it ahead of the
		 * store, which is the safe direction. */
		if ((ret = file_write_atomic(p.serial.buf, num, (size_t)n, 0600)))
			goto out;
	}
	acc.res = out;
	acc.serial_max = serial_max;
	acc.now = time(NULL);
	if ((ret = store_update(st, record_accept_txn, &acc)))
		goto out;
	log_event(LOG_INFO, "sync.accepted", out->changed ? "new commit accepted" :
		  "no change", "commit", out->commit, "signer",
		  out->signer.principal, "fingerprint", out->signer.fingerprint,
		  out->downgrade ? "downgrade" : NULL, "1", NULL);
out:
	if (token.len)
		explicit_bzero(token.buf, token.len);
	strbuf_release(&token);
	strbuf_release(&bundle);
	desired_summary_free(sum);
	value_free(got);
	sync_state_release(&state);
	paths_release(&p);
	return ret;
}

int sync_inspect(struct sync_result *out, const struct config *cfg,
		 const char *rev)
{
	struct desired_summary *sum = NULL;
	struct sync_paths p;
	int ret;

	memset(out, 0, sizeof(*out));
	paths_init(&p, cfg->state_dir);
	if (access(p.repo.buf, F_OK) < 0) {
		ret = error_set(FURROW_ENOENT, "nothing fetched yet into %s (run "
				"furrow sync)", p.repo.buf);
		goto out;
	}
	if (rev && (strlen(rev) != SYNC_OID_HEX ||
		    strspn(rev, "0123456789abcdef") != SYNC_OID_HEX)) {
		ret = error_set(FURROW_EINVAL, "%s: give a full 40-hex commit id",
				rev);
		goto out;
	}
	ret = verify_fetched(out, cfg, p.repo.buf, rev, NULL, &sum, NULL);
out:
	desired_summary_free(sum);
	paths_release(&p);
	return ret;
}

/*
 * FREEZE pauses a fleet only when the security team signed it: a commit
 * signer alone could otherwise stop every update.  Anything short of a
 * valid signature (no file, no .sig, no policy trust, a bad signature)
 * is "not frozen"; a bad signature is logged so it is not silent.
 */
static int read_freeze(int *frozen, const struct config *cfg,
		       const struct value *got, const char *commit)
{
	struct allowed_signers *trust = NULL;
	struct verify_result vr;
	const struct value *files;
	const char *body, *armored;
	size_t blen = 0, alen = 0;
	int ret = 0;

	*frozen = 0;
	memset(&vr, 0, sizeof(vr));
	files = value_get(got, "files");
	body = get_str(files, "FREEZE", &blen);
	armored = get_str(files, "FREEZE.sig", &alen);
	if (!body || !armored || !cfg->trust.policy_signers)
		goto out;
	if ((ret = allowed_signers_load(&trust, cfg->trust.policy_signers)))
		goto out;
	if (verify_sshsig(&vr, trust, "furrow-policy", body, blen, armored,
			  alen, time(NULL))) {
		log_event(LOG_WARN, "plan.freeze_ignored", error_message(),
			  "commit", commit, NULL);
		error_clear();
		goto out;
	}
	*frozen = 1;
out:
	verify_result_release(&vr);
	allowed_signers_free(trust);
	return ret;
}

int sync_read_verified(struct sync_verified *out, const struct config *cfg,
		       const char *rev)
{
	struct value *got = NULL;
	struct sync_paths p;
	int ret;

	memset(out, 0, sizeof(*out));
	paths_init(&p, cfg->state_dir);
	if (access(p.repo.buf, F_OK) < 0) {
		ret = error_set(FURROW_ENOENT, "nothing fetched yet into %s (run "
				"furrow sync)", p.repo.buf);
		goto out;
	}
	if ((ret = verify_fetched(&out->res, cfg, p.repo.buf, rev, NULL,
				  &out->sum, &got)))
		goto out;
	ret = read_freeze(&out->freeze_file, cfg, got, out->res.commit);
out:
	value_free(got);
	paths_release(&p);
	return ret;
}

void sync_verified_release(struct sync_verified *v)
{
	sync_result_release(&v->res);
	desired_summary_free(v->sum);
	memset(v, 0, sizeof(*v));
}

void sync_result_release(struct sync_result *r)
{
	free(r->summary);
	signer_release(&r->signer);
	for (size_t i = 0; i < r->policy_count; i++) {
		free(r->policies[i].path);
		free(r->policies[i].source);
		signer_release(&r->policies[i].signer);
	}
	free(r->policies);
	memset(r, 0, sizeof(*r));
}
