/*
 * test_sync_tree.c - an app's directory read from a commit
 * (core/sync_tree.c): a real repository made with the git CLI, read
 * through the confined child, and hand-made hostile results fed to the
 * parent's checks directly.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "error.h"
#include "limits.h"
#include "strbuf.h"
#include "sync_tree.h"
#include "tap.h"
#include "value.h"
#include "banned.h"

static char dir[512];
static char head[41], hollow[41];

__attribute__((format(printf, 1, 2)))
static int sh(const char *fmt, ...)
{
	struct strbuf cmd = STRBUF_INIT;
	va_list ap;
	int rc;

	strbuf_addf(&cmd, "cd '%s' && (", dir);
	va_start(ap, fmt);
	strbuf_vaddf(&cmd, fmt, ap);
	va_end(ap);
	strbuf_addstr(&cmd, ") >>sh.log 2>&1");
	rc = system(cmd.buf);
	if (rc)
		tap_diag("command failed (%d): %s", rc, cmd.buf);
	strbuf_release(&cmd);
	return rc;
}

static void read_line(char out[41], const char *file)
{
	struct strbuf sb = STRBUF_INIT, path = STRBUF_INIT;

	strbuf_addf(&path, "%s/%s", dir, file);
	out[0] = '\0';
	if (!strbuf_read_file(&sb, path.buf, 4096) && sb.len >= 40)
		snprintf(out, 41, "%.40s", sb.buf);
	strbuf_release(&sb);
	strbuf_release(&path);
}

static int has_msg(const char *needle)
{
	int yes = strstr(error_message(), needle) != NULL;

	if (!yes)
		tap_diag("message \"%s\" lacks \"%s\"", error_message(), needle);
	return yes;
}

/* The repository: a good app, one directory per refusal, and a second
 * commit whose tree holds only empty trees (which only plumbing makes). */
static int setup(void)
{
	/* As root the read child runs as 65534: it must reach the repo. */
	chmod(dir, 0711);
	return sh("G='git -c user.name=T -c user.email=t@example.org' && "
		  "git init -q -b main work && cd work && "
		  "mkdir -p apps/web/bin apps/web/static/css apps/web/a-b apps/web/a "
		  "apps/link apps/deeplink/x/y apps/nl apps/res/sub "
		  "apps/resdir/.furrow-slot apps/big && "
		  "printf 'hello\\n' >apps/web/app.conf && "
		  "printf '#!/bin/sh\\necho hi\\n' >apps/web/bin/run && "
		  "chmod 755 apps/web/bin/run && "
		  "printf 'body{}\\n' >apps/web/static/css/site.css && "
		  "printf x >apps/web/a-b/x && printf t >apps/web/a.txt && "
		  "printf b >apps/web/a/b && : >apps/web/empty && "
		  "printf 'a\\000b\\377\\000' >apps/web/bin.dat && "
		  "head -c 2621441 /dev/urandom >apps/web/big.bin && "
		  "printf ok >apps/link/ok.txt && ln -s ok.txt apps/link/ln && "
		  "ln -s /etc/passwd apps/deeplink/x/y/ln && "
		  "printf 1 >\"apps/nl/$(printf 'a\\nb')\" && "
		  "printf m >apps/res/sub/.furrow-slot && "
		  "printf m >apps/resdir/.furrow-slot/x && "
		  "d=apps/deep; for i in $(seq 70); do d=$d/d; done; "
		  "mkdir -p $d && printf f >$d/f && "
		  "head -c 50331649 /dev/zero >apps/big/huge && "
		  "printf r >README && ln -s apps applink && git add -A && "
		  "git update-index --add --cacheinfo "
		  "160000,1234567890123456789012345678901234567890,apps/mod/sub && "
		  "E=$(git hash-object -w --stdin </dev/null) && "
		  "seq 10001 | awk -v e=$E '{ printf \"100644 %%s\\tapps/many/f%%05d\\n\", e, $1 }' "
		  "| git update-index --index-info && "
		  "$G commit -q -m one && git rev-parse HEAD >../head && "
		  "T=$(git mktree </dev/null) && "
		  "I=$(printf '040000 tree %%s\\tinner\\n' $T | git mktree) && "
		  "H=$(printf '040000 tree %%s\\tinner\\n040000 tree %%s\\tvoid\\n' $I $T "
		  "| git mktree) && "
		  "R=$(printf '040000 tree %%s\\thollow\\n' $H | git mktree) && "
		  "$G commit-tree -m hollow $R >../hollow && "
		  "git update-ref refs/heads/hollow $(cat ../hollow) && cd .. && "
		  "mkdir -p state/git && git init -q --bare state/git/repo.git && "
		  "git -C work push -q \"$PWD/state/git/repo.git\" main hollow && "
		  "chmod -R go+rX state");
}

static const struct tree_file *find(const struct tree_files *t, const char *p)
{
	for (size_t i = 0; i < t->count; i++)
		if (!strcmp(t->files[i].path, p))
			return &t->files[i];
	return NULL;
}

static int same_as_work(const struct tree_file *f, const char *path)
{
	struct strbuf want = STRBUF_INIT, full = STRBUF_INIT;
	int same;

	strbuf_addf(&full, "%s/work/%s", dir, path);
	same = f && !strbuf_read_file(&want, full.buf, 8u << 20) &&
	       want.len == f->len && !memcmp(want.buf, f->data, f->len) &&
	       f->data[f->len] == '\0';
	strbuf_release(&want);
	strbuf_release(&full);
	return same;
}

static void test_good(const struct config *cfg)
{
	static const char *const order[] = {
		"a-b/x", "a.txt", "a/b", "app.conf", "big.bin", "bin.dat",
		"bin/run", "empty", "static/css/site.css",
	};
	struct tree_files t;
	const struct tree_file *f;
	size_t n = sizeof(order) / sizeof(order[0]);
	int sorted = 1;

	if (!is_int(sync_read_tree(&t, cfg, head, "apps/web"), 0, "read apps/web"))
		tap_diag("%s", error_message());
	is_int(t.count, n, "every file below it, nested ones included");
	for (size_t i = 0; i < n && i < t.count; i++)
		sorted = sorted && !strcmp(t.files[i].path, order[i]);
	ok(sorted, "sorted by path, bytewise");
	f = find(&t, "bin/run");
	ok(f && f->mode == 0755, "executable blob: 0755");
	f = find(&t, "app.conf");
	ok(f && f->mode == 0644 && f->len == 6 && !memcmp(f->data, "hello\n", 6),
	   "plain blob: 0644, its content");
	ok(same_as_work(find(&t, "bin.dat"), "apps/web/bin.dat") &&
	   find(&t, "bin.dat")->len == 5, "binary data with NULs, byte for byte");
	ok(same_as_work(find(&t, "big.bin"), "apps/web/big.bin"),
	   "2.5 MiB file (several chunks), byte for byte");
	ok(same_as_work(find(&t, "empty"), "apps/web/empty"), "empty file");
	{
		size_t sum = 0;

		for (size_t i = 0; i < t.count; i++)
			sum += t.files[i].len;
		ok(t.bytes == sum && sum > 2621441, "bytes is the total");
	}
	tree_files_release(&t);
	ok(t.files == NULL && t.count == 0, "released");

	is_int(sync_read_tree(&t, cfg, head, "apps/web/static"), 0,
	       "a deeper directory");
	ok(t.count == 1 && !strcmp(t.files[0].path, "css/site.css"),
	   "paths are relative to it");
	tree_files_release(&t);

	is_int(sync_read_tree(&t, cfg, hollow, "hollow"), 0,
	       "a directory of empty trees");
	is_int(t.count, 0, "... gives no files");
	tree_files_release(&t);
}

static void refused(const struct config *cfg, const char *rev, const char *d,
		    int code, const char *msg, const char *name)
{
	struct tree_files t;

	is_int(sync_read_tree(&t, cfg, rev, d), code, name);
	ok(has_msg(msg), "... message: %s", error_message());
	ok(t.count == 0 && t.files == NULL, "... nothing returned");
	tree_files_release(&t);
}

static void test_refused(const struct config *cfg, const struct config *none)
{
	refused(cfg, head, "apps/link", FURROW_EINVAL, "apps/link/ln: a symlink",
		"symlink refused");
	refused(cfg, head, "apps/deeplink", FURROW_EINVAL,
		"apps/deeplink/x/y/ln: a symlink", "nested symlink refused");
	refused(cfg, head, "applink/web", FURROW_EINVAL, "applink is a symlink",
		"symlink on the way to dir refused");
	refused(cfg, head, "apps/mod", FURROW_EINVAL, "apps/mod/sub: a submodule",
		"gitlink refused");
	refused(cfg, head, "apps/nosuch", FURROW_ENOENT,
		"apps/nosuch: no such directory in commit", "missing dir");
	ok(!strstr(error_message(), head) && strstr(error_message(), "in commit ") &&
	   strlen(strstr(error_message(), "in commit ")) == 10 + 12,
	   "... names the commit by 12 hex digits");
	refused(cfg, head, "nosuch/web", FURROW_ENOENT,
		"nosuch/web: no such directory", "missing parent dir");
	refused(cfg, head, "apps/web/app.conf", FURROW_EINVAL,
		"apps/web/app.conf: not a directory", "dir is a file");
	refused(cfg, head, "README/x", FURROW_EINVAL, "README is a file",
		"a file on the way to dir");
	refused(cfg, head, "apps/nl", FURROW_EINVAL, "apps/nl: path with control",
		"file name with a newline refused");
	refused(cfg, head, "apps/res", FURROW_EINVAL,
		"apps/res/sub/.furrow-slot: the name .furrow-slot is reserved",
		"reserved file name refused");
	refused(cfg, head, "apps/resdir", FURROW_EINVAL,
		"apps/resdir/.furrow-slot: the name", "reserved directory name refused");
	refused(cfg, head, "apps/deep", FURROW_ELIMIT, "LIMIT_GIT_PATH_DEPTH",
		"deeper than LIMIT_GIT_PATH_DEPTH refused");
	refused(cfg, head, "apps/many", FURROW_ELIMIT,
		"apps/many: more than 10000 files (LIMIT_TREE_FILES)",
		"10001 files: over LIMIT_TREE_FILES");
	refused(cfg, head, "apps/big", FURROW_ELIMIT, "LIMIT_TREE_BYTES",
		"a 48 MiB + 1 file: over LIMIT_TREE_BYTES");
	ok(has_msg("apps/big/huge"), "... naming the file");
	refused(cfg, "0000000000000000000000000000000000000000", "apps/web",
		FURROW_ENOENT, "not found", "unknown commit");

	/* Argument checks come before anything else: with no repository at
	 * all they still answer EINVAL, not "nothing fetched". */
	refused(none, "HEAD", "apps/web", FURROW_EINVAL, "commit id", "bad commit id");
	refused(none, "ABCDEF1234567890ABCDEF1234567890ABCDEF12", "apps/web",
		FURROW_EINVAL, "commit id", "upper-case commit id");
	refused(none, "abcdef1234567890abcdef1234567890abcdef1", "apps/web",
		FURROW_EINVAL, "commit id", "39 digits");
	refused(none, head, "apps/../etc", FURROW_EINVAL, "\"..\" component",
		"dir with .. refused before any child runs");
	refused(none, head, "/apps/web", FURROW_EINVAL, "absolute", "absolute dir");
	refused(none, head, "apps/web/", FURROW_EINVAL, "empty component",
		"trailing slash");
	refused(none, head, "", FURROW_EINVAL, "whole repository", "\"\" refused");
	refused(none, head, ".", FURROW_EINVAL, "whole repository", "\".\" refused");
	refused(none, head, "apps/web", FURROW_ENOENT, "nothing fetched",
		"no repository: ENOENT");
}

/* ---- the parent's checks, fed hand-made results ---- */

static struct value *result(struct value **files)
{
	struct value *v = value_new(VALUE_TABLE);

	*files = value_put(v, "files");
	(*files)->type = VALUE_TABLE;
	return v;
}

static void add(struct value *files, const char *path, size_t plen,
		long long mode, const char *data)
{
	struct value *f = value_table_add_str(files, path, plen), *d;

	f->type = VALUE_TABLE;
	d = value_put(f, "data");
	d->type = VALUE_TABLE;
	if (data)
		value_set_string(value_table_add_int(d, 1), data, strlen(data));
	value_put_int(f, "mode", mode);
}

static void bad(struct value *v, int code, const char *msg, const char *name)
{
	struct tree_files t;

	is_int(sync_tree_decode(&t, v, "apps/web"), code, name);
	ok(has_msg(msg), "... message: %s", error_message());
	ok(t.count == 0 && t.files == NULL, "... out left empty");
	value_free(v);
}

static void test_decode(void)
{
	struct value *v, *files, *f, *d;
	struct tree_files t;

	v = result(&files);
	add(files, "a", 1, 0755, "x");
	f = value_table_add_str(files, "b/c", 3);
	f->type = VALUE_TABLE;
	d = value_put(f, "data");
	d->type = VALUE_TABLE;
	value_set_string(value_table_add_int(d, 1), "he", 2);
	value_set_string(value_table_add_int(d, 2), "l\0o", 3);
	value_put_int(f, "mode", 0644);
	is_int(sync_tree_decode(&t, v, "apps/web"), 0, "a well-formed result");
	ok(t.count == 2 && t.files[0].mode == 0755 && t.files[1].len == 5 &&
	   !memcmp(t.files[1].data, "hel\0o", 5) && t.bytes == 6,
	   "chunks joined, modes kept");
	tree_files_release(&t);
	value_free(v);

	v = result(&files);
	add(files, "../x", 4, 0644, "x");
	bad(v, FURROW_EINVAL, "\"..\" component", "path ../x refused");
	v = result(&files);
	add(files, "/etc/x", 6, 0644, "x");
	bad(v, FURROW_EINVAL, "absolute", "absolute path refused");
	v = result(&files);
	add(files, "a", 1, 0777, "x");
	bad(v, FURROW_EINVAL, "mode 777", "mode 0777 refused");
	v = result(&files);
	add(files, "a", 1, 04755, "x");
	bad(v, FURROW_EINVAL, "mode 4755", "setuid mode refused");
	v = result(&files);
	add(files, "a", 1, 0644, "x");
	add(files, "a", 1, 0644, "y");
	bad(v, FURROW_ESYNTAX, "repeated", "duplicate path refused");
	v = result(&files);
	add(files, "b", 1, 0644, "x");
	add(files, "a", 1, 0644, "y");
	bad(v, FURROW_ESYNTAX, "out of order", "unsorted paths refused");
	v = result(&files);
	add(files, "a", 1, 0644, "x");
	add(files, "a.b", 3, 0644, "x");
	add(files, "a/b", 3, 0644, "y");
	bad(v, FURROW_EINVAL, "apps/web/a: both a file and a directory",
	    "a file that is also a directory refused");
	v = result(&files);
	add(files, "x/.furrow-slot/y", 16, 0644, "x");
	bad(v, FURROW_EINVAL, ".furrow-slot is reserved", "reserved name refused");
	v = result(&files);
	add(files, "a\nb", 3, 0644, "x");
	bad(v, FURROW_EINVAL, "control character", "newline refused");
	v = result(&files);
	add(files, "a\0b", 3, 0644, "x");
	bad(v, FURROW_ESYNTAX, "malformed", "NUL in a path refused");
	v = result(&files);
	add(files, "a", 1, 0644, "x");
	value_put_int(&files->u.table.entries[0].val, "uid", 0);
	bad(v, FURROW_ESYNTAX, "malformed", "extra key in a file refused");
	v = result(&files);
	f = value_table_add_str(files, "a", 1);
	f->type = VALUE_TABLE;
	value_put_int(f, "data", 1);
	value_put_int(f, "mode", 0644);
	bad(v, FURROW_ESYNTAX, "malformed", "data not a table refused");
	v = result(&files);
	f = value_table_add_str(files, "a", 1);
	f->type = VALUE_TABLE;
	d = value_put(f, "data");
	d->type = VALUE_TABLE;
	value_put_int(d, "1", 7);
	value_put_int(f, "mode", 0644);
	bad(v, FURROW_ESYNTAX, "malformed", "data not an array refused");
	v = value_new(VALUE_TABLE);
	bad(v, FURROW_ESYNTAX, "malformed result", "no files table refused");
	bad(NULL, FURROW_ESYNTAX, "malformed result", "no value refused");

	v = result(&files);
	for (int i = 0; i <= LIMIT_TREE_FILES; i++) {
		char name[16];

		snprintf(name, sizeof(name), "f%05d", i);
		add(files, name, strlen(name), 0644, NULL);
	}
	bad(v, FURROW_ELIMIT, "LIMIT_TREE_FILES", "LIMIT_TREE_FILES + 1 files refused");

	{
		size_t chunk = 1u << 20, n = LIMIT_TREE_BYTES / chunk;
		char *buf = calloc(1, chunk);

		v = result(&files);
		f = value_table_add_str(files, "a", 1);
		f->type = VALUE_TABLE;
		d = value_put(f, "data");
		d->type = VALUE_TABLE;
		for (size_t i = 0; i < n; i++)
			value_set_string(value_table_add_int(d, (long long)i + 1),
					 buf, chunk);
		value_put_int(f, "mode", 0644);
		add(files, "b", 1, 0644, "x");
		free(buf);
		bad(v, FURROW_ELIMIT, "LIMIT_TREE_BYTES",
		    "LIMIT_TREE_BYTES + 1 bytes refused");
	}
}

int main(void)
{
	struct config cfg, none;
	struct strbuf state = STRBUF_INIT, nostate = STRBUF_INIT;

	snprintf(dir, sizeof(dir), "%s", tap_tmpdir());
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	setenv("HOME", dir, 1);
	test_decode();
	if (!ok(setup() == 0, "a repository made with git"))
		return tap_done();
	read_line(head, "head");
	read_line(hollow, "hollow");
	strbuf_addf(&state, "%s/state", dir);
	strbuf_addf(&nostate, "%s/nostate", dir);
	memset(&cfg, 0, sizeof(cfg));
	memset(&none, 0, sizeof(none));
	cfg.state_dir = state.buf;
	none.state_dir = nostate.buf;
	test_good(&cfg);
	test_refused(&cfg, &none);
	strbuf_release(&state);
	strbuf_release(&nostate);
	return tap_done();
}
