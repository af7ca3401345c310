/*
 * sync_tree_ids.c - the Git object ids of some paths of a commit (an
 * app's `files` directory, a systemd `unit` file), read in one confined
 * child.  The planner folds them into an app's spec hash, so that a
 * commit that changes only the files of an app - not its spec - still
 * updates it, and one that leaves them alone does not.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "child.h"
#include "config.h"
#include "error.h"
#include "gitsync.h"
#include "limits.h"
#include "repopath.h"
#include "strbuf.h"
#include "sync_tree.h"
#include "value.h"
#include "valuecodec.h"
#include "banned.h"

struct ids_job {
	const char *repo;
	const char *commit;
	const char *const *paths;
	size_t n;
};

struct find {
	const char *name;
	size_t len;
	int found;
	char oid[GITSYNC_OID_HEX + 1];
};

static int find_entry(const struct gitsync_entry *e, void *arg)
{
	struct find *f = arg;

	if (strlen(e->name) != f->len || memcmp(e->name, f->name, f->len))
		return 0;
	/* Symlinks and submodules are refused when the files are read;
	 * here they simply have no id. */
	if (e->type == GITSYNC_DIR || e->type == GITSYNC_FILE ||
	    e->type == GITSYNC_EXECUTABLE) {
		f->found = 1;
		snprintf(f->oid, sizeof(f->oid), "%s", e->oid);
	}
	return 1;
}

static void ids_in_child(struct strbuf *out, void *arg)
{
	const struct ids_job *job = arg;
	struct value *t = value_new(VALUE_TABLE);
	struct strbuf parent = STRBUF_INIT;
	struct gitsync *gs = NULL;
	int ret;

	if ((ret = gitsync_open(&gs, job->repo)))
		goto out;
	for (size_t i = 0; i < job->n; i++) {
		const char *p = job->paths[i], *slash = strrchr(p, '/');
		struct find f;

		memset(&f, 0, sizeof(f));
		strbuf_reset(&parent);
		if (slash)
			strbuf_add(&parent, p, (size_t)(slash - p));
		f.name = slash ? slash + 1 : p;
		f.len = strlen(f.name);
		ret = gitsync_list_tree(gs, job->commit, parent.buf, find_entry,
					&f);
		if (ret < 0) {
			/* A missing parent is a missing path: no id. */
			error_clear();
			ret = 0;
			continue;
		}
		ret = 0;
		if (f.found && !value_get(t, p))
			value_put_str(t, p, f.oid);
	}
	value_sort(t);
out:
	if (ret)
		valuecodec_encode_error(out, ret, error_message());
	else
		valuecodec_encode(out, t);
	value_free(t);
	strbuf_release(&parent);
	gitsync_free(gs);
}

int sync_tree_ids(struct value **out, const struct config *cfg,
		  const char *commit, const char *const *paths, size_t n)
{
	struct child_limits lim = { LIMIT_SYNC_READ_SECONDS * 1000u,
				    LIMIT_CHILD_OUTPUT_BYTES, 0,
				    2 * LIMIT_GIT_PACK_BYTES, 1,
				    LIMIT_GIT_OPEN_FILES };
	struct strbuf repo = STRBUF_INIT, reply = STRBUF_INIT;
	struct ids_job job = { NULL, commit, paths, n };
	struct value *v = NULL;
	int ret = 0;

	*out = NULL;
	for (size_t i = 0; i < n && !ret; i++)
		ret = repopath_check(paths[i]);
	if (ret)
		return ret;
	strbuf_addf(&repo, "%s/git/repo.git", cfg->state_dir);
	job.repo = repo.buf;
	if ((ret = child_run(&reply, "reading app file ids", ids_in_child,
			     &job, &lim)) ||
	    (ret = valuecodec_decode(&v, "app file ids", reply.buf, reply.len)))
		goto done;
	if (v->type != VALUE_TABLE) {
		ret = error_set(FURROW_ESYNTAX, "app file ids: unexpected result");
		goto done;
	}
	/* Trust nothing from the child: only 40-hex strings for asked paths. */
	for (size_t i = 0; i < v->u.table.count; i++) {
		const struct value_entry *e = &v->u.table.entries[i];
		int asked = 0;

		for (size_t j = 0; j < n; j++)
			asked |= e->key.type == VALUE_STRING &&
				 !strcmp(e->key.u.string.ptr, paths[j]);
		if (!asked || e->val.type != VALUE_STRING ||
		    e->val.u.string.len != GITSYNC_OID_HEX ||
		    strspn(e->val.u.string.ptr, "0123456789abcdef") !=
		    GITSYNC_OID_HEX) {
			ret = error_set(FURROW_ESYNTAX, "app file ids: "
					"malformed result");
			goto done;
		}
	}
	*out = v;
	v = NULL;
done:
	value_free(v);
	strbuf_release(&repo);
	strbuf_release(&reply);
	return ret;
}
