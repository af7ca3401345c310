/*
 * test_gitsync.c - fetching and reading desired state (core/gitsync*.c,
 * core/repopath.c, core/bundle.c) against repositories made with the
 * git CLI, a real git daemon and nginx + git-http-backend over HTTPS
 * (tests/servers.sh).
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "gitsync.h"
#include "limits.h"
#include "log.h"
#include "strbuf.h"
#include "tap.h"
#include "banned.h"

static char T[512];           /* scratch dir */
static char servers_sh[1024]; /* tests/servers.sh, absolute; "" if absent */
static int servers_started;

__attribute__((format(printf, 1, 2)))
static int sh(const char *fmt, ...)
{
	struct strbuf cmd = STRBUF_INIT;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	strbuf_vaddf(&cmd, fmt, ap);
	va_end(ap);
	rc = system(cmd.buf);
	if (rc != 0)
		tap_diag("command failed (%d): %s", rc, cmd.buf);
	strbuf_release(&cmd);
	return rc;
}

/* First line of a command's output, into a static buffer. */
__attribute__((format(printf, 1, 2)))
static const char *out_of(const char *fmt, ...)
{
	static char bufs[4][4096];
	static int next;
	char *b = bufs[next++ % 4];
	struct strbuf cmd = STRBUF_INIT;
	va_list ap;
	FILE *f;

	va_start(ap, fmt);
	strbuf_vaddf(&cmd, fmt, ap);
	va_end(ap);
	b[0] = '\0';
	if ((f = popen(cmd.buf, "r"))) {
		if (fgets(b, sizeof(bufs[0]), f))
			b[strcspn(b, "\n")] = '\0';
		pclose(f);
	}
	strbuf_release(&cmd);
	return b;
}

/* Rotating buffers: copy a result that must outlive a few more calls. */
static const char *path_in(const char *leaf)
{
	static char bufs[8][700];
	static int next;
	char *b = bufs[next++ % 8];

	snprintf(b, sizeof(bufs[0]), "%s/%s", T, leaf);
	return b;
}

static int has_msg(const char *needle)
{
	int yes = strstr(error_message(), needle) != NULL;

	if (!yes)
		tap_diag("message \"%s\" lacks \"%s\"", error_message(), needle);
	return yes;
}

static const char *head_of(const char *repo, const char *rev)
{
	return out_of("git -C '%s' rev-parse '%s'", repo, rev);
}

static void commit_all(const char *repo, const char *msg)
{
	sh("cd '%s' && git add -A && git -c user.name=T -c user.email=t@example.org "
	   "commit -q --allow-empty -m '%s'", repo, msg);
}

/* Peak RSS in KiB since the last reset_peak(), from /proc. */
static long peak_kib(void)
{
	const char *v = out_of("grep VmHWM /proc/%d/status | tr -dc 0-9", (int)getpid());
	struct rusage ru;

	if (*v)
		return strtol(v, NULL, 10);
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

static int reset_peak(void)
{
	FILE *f = fopen("/proc/self/clear_refs", "w");
	int ok = f && fputs("5", f) >= 0;

	if (f)
		ok = fclose(f) == 0 && ok;
	return ok;
}

static struct gitsync_remote remote_for(const char *url)
{
	struct gitsync_remote r = { .url = url, .ref = "refs/heads/main" };

	return r;
}

/* ---- local path and file:// ---- */

static char first[GITSYNC_OID_HEX + 1], second[GITSYNC_OID_HEX + 1];

static void test_local(void)
{
	struct gitsync *gs = NULL;
	struct gitsync_result res;
	char src[700];
	struct gitsync_remote r = remote_for(src);
	struct gitsync_commit_info info;
	struct strbuf sb = STRBUF_INIT;
	struct stat st;
	int desc = -1;
	char url[800];

	snprintf(src, sizeof(src), "%s", path_in("src"));
	sh("git init -q -b main '%s' && mkdir -p '%s/a/b'", path_in("src"), path_in("src"));
	sh("printf 'hello\\n' > '%s/a/b/c.txt' && printf 'return {}\\n' > '%s/furrow.lua'",
	   path_in("src"), path_in("src"));
	commit_all(path_in("src"), "first: desired state\n\nbody text");
	snprintf(first, sizeof(first), "%s", head_of(path_in("src"), "HEAD"));

	ok(gitsync_open(&gs, path_in("state/repo.git")) < 0,
	   "open fails when the parent dir is missing");
	gitsync_free(gs);
	gs = NULL;
	sh("mkdir -p '%s'", path_in("state"));
	is_int(gitsync_open(&gs, path_in("state/repo.git")), 0, "open creates the repo");
	ok(stat(path_in("state/repo.git"), &st) == 0 && (st.st_mode & 0777) == 0700,
	   "repo dir is 0700");
	is_int(gitsync_fetched(gs, res.tip), FURROW_ENOENT, "nothing fetched yet");

	is_int(gitsync_fetch(gs, &r, &res), 0, "fetch from a local path");
	is_str(res.tip, first, "tip is the source HEAD");
	is_str(res.previous, "", "no previous tip");
	ok(res.changed && !res.recovered, "changed, not recovered");
	is_int(gitsync_fetch(gs, &r, &res), 0, "second fetch, nothing new");
	ok(!res.changed && !strcmp(res.previous, first) && res.received_objects == 0,
	   "no change, nothing received");

	sh("printf 'v2\\n' > '%s/a/b/c.txt'", path_in("src"));
	commit_all(path_in("src"), "second");
	snprintf(second, sizeof(second), "%s", head_of(path_in("src"), "HEAD"));
	is_int(gitsync_fetch(gs, &r, &res), 0, "fetch after a new commit");
	ok(res.changed && !strcmp(res.tip, second) && !strcmp(res.previous, first),
	   "tip moved from first to second");
	is_int(gitsync_is_descendant(gs, second, first, &desc), 0, "is_descendant runs");
	is_int(desc, 1, "second descends from first");
	gitsync_is_descendant(gs, first, second, &desc);
	is_int(desc, 0, "first does not descend from second");
	gitsync_is_descendant(gs, first, first, &desc);
	is_int(desc, 1, "a commit descends from itself");
	is_int(gitsync_is_descendant(gs, first, "0123456789012345678901234567890123456789", &desc),
	       FURROW_ENOENT, "unknown commit: ENOENT");
	is_int(gitsync_is_descendant(gs, first, "HEAD", &desc), FURROW_EINVAL,
	       "not an oid: EINVAL");

	is_int(gitsync_commit_raw(gs, first, &sb), 0, "commit_raw");
	sh("git -C '%s' cat-file commit %s > '%s'", path_in("src"), first, path_in("raw"));
	{
		struct strbuf want = STRBUF_INIT;

		strbuf_read_file(&want, path_in("raw"), 1 << 20);
		ok(sb.len == want.len && !memcmp(sb.buf, want.buf, sb.len),
		   "commit_raw is byte for byte git cat-file commit");
		strbuf_release(&want);
	}
	{
		const char *tree = head_of(path_in("src"), "HEAD^{tree}");

		is_int(gitsync_commit_raw(gs, tree, &sb), FURROW_EINVAL,
		       "commit_raw of a tree: EINVAL");
	}
	is_int(gitsync_commit_info(gs, first, &info), 0, "commit_info");
	is_str(info.summary, "first: desired state", "summary is the first line");
	is_int(info.time, strtoll(out_of("git -C '%s' log -1 --format=%%ct %s", path_in("src"), first),
				  NULL, 10), "commit time");

	is_int(gitsync_read_blob(gs, second, "a/b/c.txt", 1024, &sb), 0, "read nested blob");
	is_str(sb.buf, "v2\n", "nested blob content at second");
	gitsync_read_blob(gs, first, "a/b/c.txt", 1024, &sb);
	is_str(sb.buf, "hello\n", "same path at first");
	is_int(gitsync_read_blob(gs, second, "furrow.lua", 1024, &sb), 0, "read root file");
	is_int(gitsync_read_blob(gs, second, "nope.lua", 1024, &sb), FURROW_ENOENT,
	       "missing file: ENOENT");
	ok(has_msg("nope.lua"), "message names the path");
	is_int(gitsync_read_blob(gs, second, "a/b", 1024, &sb), FURROW_EINVAL,
	       "a directory is not a file");
	is_int(gitsync_read_blob(gs, second, "a/b/c.txt/x", 1024, &sb), FURROW_EINVAL,
	       "a file is not a directory");
	is_int(gitsync_read_blob(gs, second, "a/b/c.txt", 2, &sb), FURROW_ELIMIT,
	       "blob over max: ELIMIT");
	ok(has_msg("a/b/c.txt") && has_msg("limit of 2 bytes"), "names path and limit");

	/* force-push an older commit */
	sh("git -C '%s' reset -q --hard %s", path_in("src"), first);
	is_int(gitsync_fetch(gs, &r, &res), 0, "fetch a force-pushed older commit");
	is_str(res.tip, first, "tip went back to first");
	gitsync_is_descendant(gs, res.tip, res.previous, &desc);
	is_int(desc, 0, "rollback: new tip does not descend from previous");
	sh("git -C '%s' reset -q --hard %s", path_in("src"), second);

	/* file:// into a second repo */
	gitsync_free(gs);
	gs = NULL;
	snprintf(url, sizeof(url), "file://%s", path_in("src"));
	r = remote_for(url);
	is_int(gitsync_open(&gs, path_in("state/file.git")), 0, "open second repo");
	is_int(gitsync_fetch(gs, &r, &res), 0, "fetch over file://");
	is_str(res.tip, second, "file:// tip");
	r.ref = "refs/heads/none";
	is_int(gitsync_fetch(gs, &r, &res), FURROW_ENOENT, "missing ref: ENOENT");
	ok(has_msg("refs/heads/none"), "message names the ref");
	r.ref = "main";
	is_int(gitsync_fetch(gs, &r, &res), FURROW_EINVAL, "short ref name refused");
	r.ref = "refs/heads/main";
	r.max_pack_bytes = 100;
	sh("rm -rf '%s'", path_in("state/file.git"));
	gitsync_free(gs);
	gitsync_open(&gs, path_in("state/file.git"));
	is_int(gitsync_fetch(gs, &r, &res), FURROW_ELIMIT, "pack over max_pack_bytes: ELIMIT");
	ok(has_msg("LIMIT_GIT_PACK_BYTES"), "message names the limit");
	r.max_pack_bytes = 0;
	r.max_objects = 2;
	is_int(gitsync_fetch(gs, &r, &res), FURROW_ELIMIT, "too many objects: ELIMIT");
	ok(has_msg("LIMIT_GIT_PACK_OBJECTS"), "message names the limit");
	is_int(gitsync_fetched(gs, res.tip), FURROW_ENOENT, "a failed fetch sets no ref");

	/* URL rules */
	r = remote_for("ssh://host/repo.git");
	is_int(gitsync_fetch(gs, &r, &res), FURROW_EINVAL, "ssh:// refused");
	r.url = "relative/path";
	is_int(gitsync_fetch(gs, &r, &res), FURROW_EINVAL, "relative path refused");
	r.url = "https://user:secret@localhost/x.git";
	is_int(gitsync_fetch(gs, &r, &res), FURROW_EINVAL, "credentials in url refused");
	ok(!strstr(error_message(), "secret"), "and not echoed");
	r.url = "http://localhost:1/x.git";
	is_int(gitsync_fetch(gs, &r, &res), FURROW_EINVAL, "plain http refused");
	ok(has_msg("insecure"), "message says how to allow it");
	r.url = src;
	r.token_file = path_in("raw");
	is_int(gitsync_fetch(gs, &r, &res), FURROW_EINVAL, "token over a local path refused");

	strbuf_release(&sb);
	gitsync_free(gs);
}

/* ---- hostile trees ---- */

static int count_entries(const struct gitsync_entry *e, void *arg)
{
	(void)e;
	(*(int *)arg)++;
	return 0;
}

static void test_hostile(void)
{
	static const char *bad[] = {
		"../x", "/etc/passwd", "a//b/c.txt", "a/./b/c.txt", "a/b/../b/c.txt",
		"a\\b", "a/b/", "", ".", "a/b/c.txt\n",
	};
	struct gitsync *gs = NULL;
	struct gitsync_result res;
	char evil[700];
	struct gitsync_remote r = remote_for(evil);
	struct strbuf sb = STRBUF_INIT;
	char tip[GITSYNC_OID_HEX + 1];
	const char *blob;
	long before, grown;
	int n = 0;
	time_t t0;

	snprintf(evil, sizeof(evil), "%s", path_in("evil"));
	sh("git init -q -b main '%s' && mkdir -p '%s/a/b' '%s/d'", path_in("evil"),
	   path_in("evil"), path_in("evil"));
	sh("cd '%s' && printf ok > a/b/c.txt && printf in > d/f && ln -s /etc/passwd x && "
	   "ln -s d dirlink && head -c 67108864 /dev/zero > big", path_in("evil"));
	commit_all(path_in("evil"), "hostile");
	blob = head_of(path_in("evil"), "HEAD:a/b/c.txt");
	sh("cd '%s' && git update-index --add --cacheinfo 160000,%s,sub", path_in("evil"),
	   head_of(path_in("evil"), "HEAD"));
	sh("cd '%s' && git -c user.name=T -c user.email=t@example.org commit -q -m gitlink",
	   path_in("evil"));
	(void)blob;

	gitsync_open(&gs, path_in("state/evil.git"));
	is_int(gitsync_fetch(gs, &r, &res), 0, "fetch the hostile repo (64 MiB blob inside)");
	snprintf(tip, sizeof(tip), "%s", res.tip);
	is_int(gitsync_read_blob(gs, tip, "a/b/c.txt", 100, &sb), 0, "the good file reads");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = gitsync_read_blob(gs, tip, bad[i], 100, &sb);

		ok(rc == FURROW_EINVAL, "path rule refuses \"%s\" (%d: %s)",
		   i == 9 ? "with newline" : bad[i], rc, error_message());
	}
	is_int(gitsync_read_blob(gs, tip, "x", 100, &sb), FURROW_EINVAL, "symlink refused");
	ok(has_msg("symlink") && has_msg("\"x\""), "message names the symlink");
	is_int(gitsync_read_blob(gs, tip, "dirlink/f", 100, &sb), FURROW_EINVAL,
	       "path through a symlink refused");
	ok(has_msg("dirlink"), "message names it");
	is_int(gitsync_read_blob(gs, tip, "sub", 100, &sb), FURROW_EINVAL, "gitlink refused");
	ok(has_msg("submodule") && has_msg("sub"), "message names the gitlink");
	is_int(gitsync_read_blob(gs, tip, "sub/x", 100, &sb), FURROW_EINVAL,
	       "path through a gitlink refused");

	ok(reset_peak(), "peak RSS reset");
	before = peak_kib();
	t0 = time(NULL);
	is_int(gitsync_read_blob(gs, tip, "big", 1u << 20, &sb), FURROW_ELIMIT,
	       "64 MiB blob over a 1 MiB cap: ELIMIT");
	ok(has_msg("big") && has_msg("67108864") && has_msg("1048576"),
	   "message names path, size and limit");
	grown = peak_kib() - before;
	ok(grown < 16 * 1024, "refused without inflating it (peak grew %ld KiB)", grown);
	ok(time(NULL) - t0 < 3, "and fast");

	is_int(gitsync_list_tree(gs, tip, "", count_entries, &n), 0, "list root");
	is_int(n, 6, "root has 6 entries (a big d dirlink sub x)");
	n = 0;
	is_int(gitsync_list_tree(gs, tip, "dirlink", count_entries, &n), FURROW_EINVAL,
	       "list through a symlink refused");
	is_int(gitsync_list_tree(gs, tip, "../a", count_entries, &n), FURROW_EINVAL,
	       "list with .. refused");

	/* a tree of 100k entries */
	sh("cd '%s' && { printf 'blob\\nmark :1\\ndata 2\\nx\\n\\n"
	   "commit refs/heads/many\\ncommitter T <t@example.org> 1700000000 +0000\\n"
	   "data 5\\nmany\\n'; seq -f 'M 100644 :1 many/f%%06g' 0 99999; "
	   "printf 'M 100644 :1 small\\n\\n'; } | git fast-import --quiet",
	   path_in("evil"));
	r.ref = "refs/heads/many";
	is_int(gitsync_fetch(gs, &r, &res), 0, "fetch a commit with a 100k-entry tree");
	n = 0;
	is_int(gitsync_list_tree(gs, res.tip, "many", count_entries, &n), FURROW_ELIMIT,
	       "listing it: ELIMIT");
	ok(has_msg("LIMIT_GIT_TREE_ENTRIES") && has_msg("many") && n == 0,
	   "names dir and limit, before any callback");
	is_int(gitsync_read_blob(gs, res.tip, "many/f000001", 100, &sb), FURROW_ELIMIT,
	       "reading through it: ELIMIT");
	is_int(gitsync_read_blob(gs, res.tip, "small", 100, &sb), 0,
	       "a file beside it still reads");

	strbuf_release(&sb);
	gitsync_free(gs);
}

/* ---- bundles ---- */

static void test_bundle(void)
{
	struct gitsync *gs = NULL;
	struct gitsync_result res;
	struct strbuf sb = STRBUF_INIT;
	char third[GITSYNC_OID_HEX + 1];

	sh("git -C '%s' bundle create -q '%s' main", path_in("src"), path_in("full.bundle"));
	gitsync_open(&gs, path_in("state/bundle.git"));
	is_int(gitsync_fetch_bundle(gs, path_in("full.bundle"), "refs/heads/main", &res), 0,
	       "sideload a full bundle");
	is_str(res.tip, second, "bundle tip");
	is_int(gitsync_read_blob(gs, res.tip, "a/b/c.txt", 100, &sb), 0, "read from it");
	is_str(sb.buf, "v2\n", "content");

	sh("printf 'v3\\n' > '%s/a/b/c.txt'", path_in("src"));
	commit_all(path_in("src"), "third");
	snprintf(third, sizeof(third), "%s", head_of(path_in("src"), "HEAD"));
	sh("git -C '%s' bundle create -q '%s' %s..main", path_in("src"), path_in("inc.bundle"),
	   second);
	is_int(gitsync_fetch_bundle(gs, path_in("inc.bundle"), "refs/heads/main", &res), 0,
	       "sideload an incremental (thin) bundle");
	is_str(res.tip, third, "incremental tip");
	ok(res.changed && !strcmp(res.previous, second), "changed from second");
	gitsync_read_blob(gs, res.tip, "a/b/c.txt", 100, &sb);
	is_str(sb.buf, "v3\n", "content at third");
	is_int(gitsync_fetch_bundle(gs, path_in("inc.bundle"), "refs/heads/other", &res),
	       FURROW_ENOENT, "ref not in bundle: ENOENT");

	gitsync_free(gs);
	gitsync_open(&gs, path_in("state/bundle2.git"));
	is_int(gitsync_fetch_bundle(gs, path_in("inc.bundle"), "refs/heads/main", &res),
	       FURROW_ENOENT, "missing prerequisite: ENOENT");
	ok(has_msg(second), "message names the prerequisite");
	sh("head -c 200 '%s' > '%s'", path_in("full.bundle"), path_in("cut.bundle"));
	ok(gitsync_fetch_bundle(gs, path_in("cut.bundle"), "refs/heads/main", &res) < 0,
	   "truncated bundle fails (%s)", error_message());
	is_int(gitsync_fetch_bundle(gs, path_in("raw"), "refs/heads/main", &res),
	       FURROW_ESYNTAX, "not a bundle: ESYNTAX");
	is_int(gitsync_fetched(gs, res.tip), FURROW_ENOENT, "failed sideloads set no ref");
	strbuf_release(&sb);
	gitsync_free(gs);
}

/* ---- corruption ---- */

static int aside_count(const char *dir)
{
	char pat[800];
	glob_t g;
	int n;

	snprintf(pat, sizeof(pat), "%s.corrupt-*", dir);
	if (glob(pat, 0, NULL, &g) != 0)
		return 0;
	n = (int)g.gl_pathc;
	globfree(&g);
	return n;
}

static void test_corrupt(void)
{
	struct gitsync *gs = NULL;
	struct gitsync_result res;
	char src[700], dir[700], bad[700];
	int n;
	struct gitsync_remote r = remote_for(src);
	struct strbuf sb = STRBUF_INIT;
	char tip[GITSYNC_OID_HEX + 1];

	snprintf(src, sizeof(src), "%s", path_in("src"));
	snprintf(dir, sizeof(dir), "%s", path_in("state/c.git"));
	snprintf(bad, sizeof(bad), "%s", path_in("nonexistent"));
	gitsync_open(&gs, dir);
	is_int(gitsync_fetch(gs, &r, &res), 0, "fetch into c.git");
	snprintf(tip, sizeof(tip), "%s", res.tip);
	/* Truncate every pack: the objects of the fetched commit are gone. */
	sh("for p in '%s'/objects/pack/*.pack; do truncate -s 40 \"$p\"; done", dir);
	/* furrow fetches in a fresh process each time: no object cache. */
	gitsync_free(gs);
	gs = NULL;
	gitsync_open(&gs, dir);
	is_int(gitsync_fetch(gs, &r, &res), 0, "fetch after truncating the packs works");
	ok(res.recovered, "and reports a recovery");
	ok(sh("grep -q 'event=git.repo_corrupt.*moved_to=' '%s'", path_in("log")) == 0,
	   "and logs git.repo_corrupt with where it went");
	is_str(res.tip, tip, "same tip");
	is_int(aside_count(dir), 1, "the corrupt repo was moved aside");
	is_int(gitsync_read_blob(gs, res.tip, "a/b/c.txt", 100, &sb), 0, "reads work again");
	is_int(gitsync_fetch(gs, &r, &res), 0, "next fetch");
	ok(!res.recovered, "is a normal one");

	/* Packs deleted outright: the remote resends what is missing (the
	 * local transport cannot hide commits we no longer have), or the
	 * repo is recovered; either way the fetch ends with a good tip. */
	sh("rm -f '%s'/objects/pack/*", dir);
	is_int(gitsync_fetch(gs, &r, &res), 0, "fetch after deleting the packs");
	is_str(res.tip, tip, "tip is back");
	is_int(gitsync_read_blob(gs, res.tip, "a/b/c.txt", 100, &sb), 0, "and reads");
	n = aside_count(dir);

	/* A repo dir that does not open at all. */
	gitsync_free(gs);
	sh("rm -rf '%s/objects' && printf garbage > '%s/HEAD'", dir, dir);
	is_int(gitsync_open(&gs, dir), 0, "open a broken repo dir");
	ok(gitsync_recovered(gs) && aside_count(dir) == n + 1, "it was moved aside");
	is_int(gitsync_fetch(gs, &r, &res), 0, "and fetch works");

	/* A read that finds damage leaves a marker; the next fetch acts on it. */
	sh("for p in '%s'/objects/pack/*.pack; do truncate -s 40 \"$p\"; done", dir);
	ok(gitsync_read_blob(gs, res.tip, "a/b/c.txt", 100, &sb) < 0, "read of damaged repo fails");
	is_int(gitsync_fetch(gs, &r, &res), 0, "next fetch");
	ok(res.recovered && aside_count(dir) == n + 2, "recovered because of the marker");
	is_int(gitsync_read_blob(gs, res.tip, "a/b/c.txt", 100, &sb), 0, "reads again");

	/* A healthy repo is never thrown away for a remote's failure. */
	r.url = bad;
	ok(gitsync_fetch(gs, &r, &res) < 0 && !res.recovered && aside_count(dir) == n + 2,
	   "a failing remote leaves a healthy repo alone (%s)", error_message());
	strbuf_release(&sb);
	gitsync_free(gs);
}

/* ---- git daemon and HTTPS ---- */

static void stop_servers(void)
{
	if (servers_started)
		sh("SERVERS_DIR='%s' bash -c '. \"%s\"; stop_servers'", path_in("servers"),
		   servers_sh);
	servers_started = 0;
}

static const char *start(const char *fn, const char *args)
{
	servers_started = 1;
	return out_of("SERVERS_OWNER=%d SERVERS_DIR='%s' bash -c '. \"%s\"; %s %s'",
		      (int)getpid(), path_in("servers"), servers_sh, fn, args);
}

static void test_network(void)
{
	struct gitsync *gs = NULL;
	struct gitsync_result res;
	struct gitsync_remote r;
	char url[800], args[1200], ca[700], token[700];
	const char *port;
	int hport;

	sh("mkdir -p '%s' && git clone -q --bare '%s' '%s'", path_in("srv"), path_in("src"),
	   path_in("srv/state.git"));
	port = start("start_git_daemon", path_in("srv"));
	ok(strtol(port, NULL, 10) > 0, "git daemon started on port %s", port);
	snprintf(url, sizeof(url), "git://127.0.0.1:%s/state.git", port);
	r = remote_for(url);
	gitsync_open(&gs, path_in("state/net.git"));
	is_int(gitsync_fetch(gs, &r, &res), 0, "fetch over git://");
	is_str(res.tip, head_of(path_in("src"), "HEAD"), "git:// tip");

	printf("# starting nginx\n");
	snprintf(args, sizeof(args), "'%s' '%s' s3cret-token", path_in("srv"), path_in("ca.pem"));
	port = start("start_https_git", args);
	hport = (int)strtol(port, NULL, 10);
	ok(hport > 0, "nginx started on port %s", port);
	gitsync_free(gs);
	gitsync_open(&gs, path_in("state/https.git"));
	snprintf(url, sizeof(url), "https://localhost:%d/state.git", hport);
	r = remote_for(url);
	snprintf(ca, sizeof(ca), "%s", path_in("ca.pem"));
	r.ca_file = ca;
	is_int(gitsync_fetch(gs, &r, &res), 0, "fetch over https with the right CA");
	is_str(res.tip, head_of(path_in("src"), "HEAD"), "https tip");

	sh("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=other "
	   "-keyout '%s' -out '%s' 2>/dev/null", path_in("other.key"), path_in("other.pem"));
	r.ca_file = path_in("other.pem");
	is_int(gitsync_fetch(gs, &r, &res), FURROW_EIO, "wrong CA fails");
	ok(has_msg("certificate"), "clearly (certificate)");
	r.ca_file = NULL;
	is_int(gitsync_fetch(gs, &r, &res), FURROW_EIO, "system CA bundle does not trust it");
	r.ca_file = "/nonexistent/ca.pem";
	is_int(gitsync_fetch(gs, &r, &res), FURROW_EINVAL, "missing CA file: EINVAL");
	r.ca_file = "/tmp";
	is_int(gitsync_fetch(gs, &r, &res), FURROW_EINVAL, "a directory as CA file: EINVAL");

	snprintf(url, sizeof(url), "https://127.0.0.1:%d/state.git", hport);
	r.url = url;
	r.ca_file = ca;
	is_int(gitsync_fetch(gs, &r, &res), FURROW_EIO, "wrong host name fails");
	ok(has_msg("certificate"), "clearly (%s)", error_message());

	snprintf(url, sizeof(url), "http://localhost:%s/state.git",
		 out_of("cat '%s'", path_in("servers/http.port")));
	r.url = url;
	is_int(gitsync_fetch(gs, &r, &res), FURROW_EINVAL, "plain http refused");
	r.insecure = 1;
	is_int(gitsync_fetch(gs, &r, &res), 0, "plain http with insecure");
	r.insecure = 0;

	snprintf(url, sizeof(url), "https://localhost:%d/private/state.git", hport);
	r = remote_for(url);
	r.ca_file = ca;
	is_int(gitsync_fetch(gs, &r, &res), FURROW_EIO, "auth required, no token");
	ok(has_msg("token_file"), "message says so");
	sh("printf 's3cret-token\\n' > '%s' && printf 'wrong\\n' > '%s'", path_in("token"),
	   path_in("badtoken"));
	r.token_file = path_in("badtoken");
	is_int(gitsync_fetch(gs, &r, &res), FURROW_EIO, "wrong token fails");
	ok(!strstr(error_message(), "wrong"), "token not in the message (%s)", error_message());
	snprintf(token, sizeof(token), "%s", path_in("token"));
	r.token_file = token;
	sh("printf 'x\\n' > '%s/x' && cd '%s' && git add x", path_in("src"), path_in("src"));
	commit_all(path_in("src"), "fourth");
	sh("git -C '%s' push -q '%s' main", path_in("src"), path_in("srv/state.git"));
	is_int(gitsync_fetch(gs, &r, &res), 0, "right token works");
	is_str(res.tip, head_of(path_in("src"), "HEAD"), "new tip over authenticated https");
	ok(sh("grep -q 'user=furrow \"POST /private/state.git/git-upload-pack' '%s'",
	      path_in("servers/nginx/access.log")) == 0,
	   "the server saw user furrow authenticate");
	ok(sh("! grep -q s3cret '%s' '%s'", path_in("servers/nginx/access.log"),
	      path_in("servers/nginx/error.log")) == 0, "token not in server logs");

	/* Timeouts: a listener that never answers. */
	{
		char p2[32];
		const char *idle = out_of("python3 -c 'import socket; s=socket.socket(); "
					  "s.bind((\"127.0.0.1\",0)); print(s.getsockname()[1])'");
		time_t t0;

		snprintf(p2, sizeof(p2), "%s", idle);
		sh("SERVERS_OWNER=%d SERVERS_DIR='%s' bash -c '. \"%s\"; servers_init; "
		   "servers_spawn /dev/null python3 -c \"import socket,time; s=socket.socket(); "
		   "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
		   "s.bind((\\\"127.0.0.1\\\",%s)); s.listen(5); time.sleep(60)\"; "
		   "servers_wait_port %s'", (int)getpid(), path_in("servers"), servers_sh, p2, p2);
		snprintf(url, sizeof(url), "git://127.0.0.1:%s/state.git", p2);
		r = remote_for(url);
		r.idle_timeout = 1;
		t0 = time(NULL);
		is_int(gitsync_fetch(gs, &r, &res), FURROW_ETIMEOUT, "silent server: ETIMEOUT");
		ok(time(NULL) - t0 <= 4, "after about the idle timeout");
		ok(has_msg("timeout"), "message says timeout (%s)", error_message());
	}
	gitsync_free(gs);
	stop_servers();
}

int main(void)
{
	const char *src = getenv("SRC_DIR");

	snprintf(T, sizeof(T), "%s", tap_tmpdir());
	snprintf(servers_sh, sizeof(servers_sh), "%s/tests/servers.sh",
		 src && *src ? src : ".");
	if (servers_sh[0] != '/') {
		char cwd[512];

		if (getcwd(cwd, sizeof(cwd)))
			snprintf(servers_sh, sizeof(servers_sh), "%s/tests/servers.sh", cwd);
	}
	/* Log lines go to a file the corruption tests look at. */
	log_set_fd(open(path_in("log"), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	setenv("HOME", T, 1);
	atexit(stop_servers);

	test_local();
	test_hostile();
	test_bundle();
	test_corrupt();
	if (access(servers_sh, R_OK) == 0 &&
	    sh("command -v nginx fcgiwrap openssl python3 >/dev/null") == 0)
		test_network();
	else
		ok(1, "# SKIP network tests: need tests/servers.sh, nginx, fcgiwrap");
	return tap_done();
}
