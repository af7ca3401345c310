/*
 * test_slots.c - an app's A/B slots on disk (core/slots.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "slots.h"
#include "tap.h"
#include "banned.h"

static const struct slot_manifest_info INFO = {
	"0123456789abcdef0123456789abcdef01234567",
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
};

/* "a/b/c" (c may be ""), in one of a few rotating buffers. */
static const char *join(const char *a, const char *b, const char *c)
{
	static char bufs[8][1024];
	static int next;
	char *buf = bufs[next++ % 8];

	snprintf(buf, sizeof(bufs[0]), "%s/%s%s%s", a, b, *c ? "/" : "", c);
	return buf;
}

/* A copy of p that stays put (join() reuses its buffers). */
static const char *hold(const char *p)
{
	static char bufs[32][1024];
	static int next;
	char *buf = bufs[next++ % 32];

	snprintf(buf, sizeof(bufs[0]), "%s", p);
	return buf;
}

static int exists(const char *p)
{
	struct stat st;

	return lstat(p, &st) == 0;
}

static void put(const char *p, const char *text)
{
	FILE *f = fopen(p, "w");

	if (!f)
		return;
	fputs(text, f);
	fclose(f);
}

/* Stage the inactive slot with two files and commit it. */
static int stage_two(struct slots *s, const char *version)
{
	struct slot_stage *st;
	int ret = slots_stage_begin(s, &st);

	if (ret)
		return ret;
	ret = slot_stage_file(st, "config/app.conf", version, strlen(version),
			      0644);
	if (!ret)
		ret = slot_stage_file(st, "bin/run", "#!/bin/sh\n", 10, 0755);
	if (!ret)
		ret = slots_stage_commit(st, &INFO);
	slot_stage_free(st);
	return ret;
}

static int has_drift(const struct slot_report *r, enum slot_drift_kind k,
		     const char *path)
{
	for (size_t i = 0; i < r->ndrift; i++)
		if (r->drift[i].kind == k && !strcmp(r->drift[i].path, path))
			return 1;
	return 0;
}

static void test_round_trip(const char *state)
{
	struct slots *s;
	struct slot_report r;
	struct stat stt;
	char buf[64];
	ssize_t n;

	is_int(slots_open(&s, state, "web"), 0, "open");
	ok(exists(join(state, "apps/web/data", "")), "data/ created");
	ok(stat(join(state, "apps/web", ""), &stt) == 0 &&
	   (stt.st_mode & 0777) == 0700, "app dir is 0700");
	is_int(slots_active(s), 0, "no slot active at first");
	is_int(slots_inactive(s), 'a', "a is staged first");
	is_int(stage_two(s, "v1\n"), 0, "stage + commit a");
	ok(stat(join(state, "apps/web/a/bin/run", ""), &stt) == 0 &&
	   (stt.st_mode & 0777) == 0755, "executable staged 0755");
	is_int(slots_switch(s, 'a'), 0, "switch to a");
	is_int(slots_active(s), 'a', "a active");
	n = readlink(join(state, "apps/web/current", ""), buf, sizeof(buf));
	ok(n == 1 && buf[0] == 'a', "current -> a (relative)");
	is_int(slots_switch(s, 'a'), 0, "switch to the active slot: no-op");
	is_int(slots_verify(s, 'a', &r), 0, "verify a");
	ok(r.complete && r.ndrift == 0 && r.files == 2, "a complete, no drift");
	is_str(r.commit, INFO.commit, "manifest keeps the commit");
	is_str(r.spec_sha256, INFO.spec_sha256, "manifest keeps the spec sha");
	slot_report_release(&r);

	is_int(slots_inactive(s), 'b', "b is inactive");
	is_int(stage_two(s, "v2\n"), 0, "stage + commit b");
	is_int(slots_switch(s, 'b'), 0, "switch to b");
	is_int(slots_active(s), 'b', "b active");
	ok(exists(join(state, "apps/web/a/config/app.conf", "")),
	   "old slot kept for rollback");
	is_int(slots_switch(s, 'a'), 0, "roll back to a");
	is_int(slots_active(s), 'a', "a active again");
	/* Data survives staging. */
	put(join(state, "apps/web/data/db", ""), "keep");
	is_int(stage_two(s, "v3\n"), 0, "restage b");
	ok(exists(join(state, "apps/web/data/db", "")), "data/ untouched");
	slots_free(s);

	ok(slots_open(&s, state, "../x") == FURROW_EINVAL, "bad app name refused");
	ok(slots_open(&s, state, "") == FURROW_EINVAL, "empty app name refused");
}

static void test_incomplete(const char *state)
{
	struct slots *s;
	struct slot_stage *st;
	struct slot_report r;

	is_int(slots_open(&s, state, "inc"), 0, "open inc");
	is_int(slots_stage_begin(s, &st), 0, "begin");
	is_int(slot_stage_file(st, "f", "x", 1, 0644), 0, "stage f");
	slot_stage_free(st); /* a crash before commit */
	is_int(slots_verify(s, 'a', &r), 0, "verify uncommitted slot");
	is_int(r.complete, 0, "manifest missing -> incomplete");
	slot_report_release(&r);
	ok(slots_switch(s, 'a') == FURROW_EINVAL, "switch to incomplete refused: %s",
	   error_message());
	is_int(slots_active(s), 0, "still nothing active");

	/* A truncated manifest is no manifest. */
	is_int(stage_two(s, "v1\n"), 0, "stage a");
	{
		const char *m = hold(join(state, "apps/inc/a", SLOTS_MANIFEST));

		ok(truncate(m, 40) == 0, "truncate manifest");
	}
	is_int(slots_verify(s, 'a', &r), 0, "verify truncated");
	is_int(r.complete, 0, "truncated manifest -> incomplete");
	slot_report_release(&r);
	ok(slots_verify(s, 'b', &r) == FURROW_ENOENT, "verify absent slot: ENOENT");
	slots_free(s);
}

static void test_drift(const char *state)
{
	struct slots *s;
	struct slot_stage *st;
	struct slot_report r;
	const char *a;

	is_int(slots_open(&s, state, "drift"), 0, "open drift");
	is_int(slots_stage_begin(s, &st), 0, "begin");
	is_int(slot_stage_file(st, "one", "1", 1, 0644), 0, "one");
	is_int(slot_stage_file(st, "dir/two", "2", 1, 0644), 0, "dir/two");
	is_int(slot_stage_file(st, "three", "3", 1, 0644), 0, "three");
	is_int(slot_stage_file(st, "four", "4", 1, 0755), 0, "four");
	is_int(slots_stage_commit(st, &INFO), 0, "commit");
	slot_stage_free(st);
	is_int(slots_switch(s, 'a'), 0, "switch");
	a = hold(join(state, "apps/drift/a", ""));
	put(join(a, "one", ""), "changed");        /* modified */
	unlink(join(a, "dir/two", ""));              /* deleted */
	put(join(a, "dir/extra", ""), "x");         /* extra */
	unlink(join(a, "three", ""));
	ok(symlink("/etc/passwd", join(a, "three", "")) == 0,
	   "three replaced by a symlink");
	chmod(join(a, "four", ""), 0644);            /* mode */
	is_int(slots_verify(s, 'a', &r), 0, "verify drifted slot");
	ok(r.complete, "still complete");
	ok(has_drift(&r, SLOT_DRIFT_CHANGED, "one"), "modified file reported");
	ok(has_drift(&r, SLOT_DRIFT_MISSING, "dir/two"), "deleted file reported");
	ok(has_drift(&r, SLOT_DRIFT_EXTRA, "dir/extra"), "extra file reported");
	ok(has_drift(&r, SLOT_DRIFT_CHANGED, "three"), "symlink reported changed");
	ok(has_drift(&r, SLOT_DRIFT_CHANGED, "four"), "mode change reported");
	is_int(r.ndrift, 5, "exactly five differences");
	slot_report_release(&r);
	slots_free(s);
}

static void test_hostile_paths(const char *state)
{
	static const char *const bad[] = {
		"../x", "/etc/passwd", "a/../../x", "", ".", "a//b", "a\\b",
		"a/./b", SLOTS_MANIFEST, "x\ny",
	};
	struct slots *s;
	struct slot_stage *st;
	const char *outside = hold(join(state, "outside2", ""));

	is_int(slots_open(&s, state, "hostile"), 0, "open hostile");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		is_int(slots_stage_begin(s, &st), 0, "begin");
		ok(slot_stage_file(st, bad[i], "x", 1, 0644) < 0,
		   "refused path #%zu", i);
		slot_stage_free(st);
	}
	is_int(slots_stage_begin(s, &st), 0, "begin");
	ok(slot_stage_file(st, "f", "x", 1, 04755) == FURROW_EINVAL,
	   "setuid mode refused");
	slot_stage_free(st);
	is_int(slots_stage_begin(s, &st), 0, "begin");
	is_int(slot_stage_file(st, "f", "x", 1, 0644), 0, "f");
	ok(slot_stage_file(st, "f", "x", 1, 0644) == FURROW_EINVAL,
	   "same path twice refused");
	slot_stage_free(st);

	/* A symlink planted mid-staging is not followed to write through. */
	mkdir(outside, 0755);
	is_int(slots_stage_begin(s, &st), 0, "begin");
	ok(symlink(outside, join(state, "apps/hostile/a/evil", "")) == 0,
	   "plant evil -> outside");
	ok(slot_stage_file(st, "evil/x", "x", 1, 0644) < 0,
	   "write through a planted symlink refused");
	ok(!exists(join(outside, "x", "")), "nothing written outside");
	slot_stage_free(st);
	slots_free(s);
}

static void test_no_escape(const char *state)
{
	struct slots *s;
	struct slot_stage *st;
	const char *outside = hold(join(state, "outside", ""));
	const char *keep = hold(join(state, "outside/keep", ""));
	const char *b = hold(join(state, "apps/esc/b", ""));

	mkdir(outside, 0755);
	put(keep, "precious");
	is_int(slots_open(&s, state, "esc"), 0, "open esc");
	is_int(stage_two(s, "v1\n"), 0, "stage a");
	is_int(slots_switch(s, 'a'), 0, "a active");
	mkdir(b, 0755);
	mkdir(join(b, "deep", ""), 0755);
	mkdir(join(b, "deep/er", ""), 0755);
	put(join(b, "deep/er/f", ""), "x");
	/* b/evil -> state/outside, relatively and absolutely. */
	ok(symlink("../../../outside", join(b, "evil", "")) == 0,
	   "plant b/evil -> ../../../outside");
	ok(symlink(outside, join(b, "evil_abs", "")) == 0,
	   "plant b/evil_abs -> outside");
	ok(symlink(outside, join(b, "deep/er", "evil")) == 0,
	   "plant a deep symlink too");
	{
		struct stat stt;

		ok(stat(join(b, "evil", "keep"), &stt) == 0,
		   "the planted link does reach outside/keep");
	}
	is_int(slots_stage_begin(s, &st), 0, "stage_begin empties b");
	is_int(slot_stage_slot(st), 'b', "staging b");
	ok(exists(keep), "outside/keep still exists");
	ok(exists(outside), "outside still exists");
	ok(!exists(join(b, "evil", "")), "the symlink itself is gone");
	ok(!exists(join(b, "deep", "")), "nested directories gone");
	ok(exists(join(state, "apps/esc/a/bin/run", "")), "slot a untouched");
	slot_stage_free(st);

	/* The slot name itself a symlink to outside. */
	rmdir(b); /* emptied by the stage above */
	ok(symlink(outside, b) == 0, "plant b -> outside");
	is_int(slots_stage_begin(s, &st), 0, "stage_begin replaces the link");
	ok(exists(keep), "outside/keep still exists");
	{
		struct stat stt;

		ok(lstat(b, &stt) == 0 && S_ISDIR(stt.st_mode), "b is a directory");
	}
	slot_stage_free(st);
	slots_free(s);
}

static void test_atomic_switch(const char *state)
{
	struct slots *s;
	int pfd[2], status, failures = -1;
	const char *cur = hold(join(state, "apps/atom/current", SLOTS_MANIFEST));
	pid_t pid;
	long switches = 0;

	is_int(slots_open(&s, state, "atom"), 0, "open atom");
	is_int(stage_two(s, "v1\n"), 0, "stage a");
	is_int(slots_switch(s, 'a'), 0, "a");
	is_int(stage_two(s, "v2\n"), 0, "stage b");
	if (pipe(pfd) < 0) {
		ok(0, "pipe");
		return;
	}
	pid = fork();
	if (pid == 0) {
		int fails = 0;

		close(pfd[0]);
		for (int i = 0; i < 20000; i++) {
			struct stat st;
			char buf[4];
			ssize_t n = readlink(join(state, "apps/atom/current", ""),
					     buf, sizeof(buf));

			if (n != 1 || (buf[0] != 'a' && buf[0] != 'b') ||
			    stat(cur, &st) < 0)
				fails++;
		}
		if (write(pfd[1], &fails, sizeof(fails)) != sizeof(fails))
			_exit(2);
		_exit(0);
	}
	close(pfd[1]);
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (slots_switch(s, switches % 2 ? 'a' : 'b') < 0)
			break;
		switches++;
	}
	if (read(pfd[0], &failures, sizeof(failures)) != sizeof(failures))
		failures = -1;
	close(pfd[0]);
	waitpid(pid, &status, 0);
	ok(switches > 10, "switched %ld times while the reader ran", switches);
	is_int(failures, 0, "current always resolved to a or b");
	slots_free(s);
}

static void test_disk_full(void)
{
	char dir[600];
	struct slots *s;
	struct slot_stage *st;
	struct slot_report r;
	static char big[512 * 1024];
	int ret;

	snprintf(dir, sizeof(dir), "%s/tmpfs", tap_tmpdir());
	mkdir(dir, 0755);
	if (geteuid() != 0 ||
	    mount("tmpfs", dir, "tmpfs", 0, "size=256k") < 0) {
		ok(1, "# SKIP disk full: not root or cannot mount tmpfs");
		return;
	}
	is_int(slots_open(&s, dir, "full"), 0, "open on a small tmpfs");
	is_int(stage_two(s, "v1\n"), 0, "stage a");
	is_int(slots_switch(s, 'a'), 0, "a active");
	is_int(slots_stage_begin(s, &st), 0, "begin b");
	memset(big, 'x', sizeof(big));
	ret = slot_stage_file(st, "big", big, sizeof(big), 0644);
	is_int(ret, FURROW_EIO, "disk full is an error");
	ok(strstr(error_message(), "disk full") != NULL, "says disk full: %s",
	   error_message());
	ok(slots_stage_commit(st, &INFO) < 0, "commit after failure refused");
	slot_stage_free(st);
	is_int(slots_active(s), 'a', "a still active");
	is_int(slots_verify(s, 'a', &r), 0, "verify a");
	ok(r.complete && r.ndrift == 0, "active slot intact");
	slot_report_release(&r);
	is_int(slots_verify(s, 'b', &r), 0, "verify b");
	is_int(r.complete, 0, "b incomplete");
	slot_report_release(&r);
	ok(slots_switch(s, 'b') < 0, "cannot switch to the failed slot");
	slots_free(s);
	umount2(dir, MNT_DETACH);
}

int main(void)
{
	const char *state = hold(join(tap_tmpdir(), "state", ""));

	test_round_trip(state);
	test_incomplete(state);
	test_drift(state);
	test_hostile_paths(state);
	test_no_escape(state);
	test_atomic_switch(state);
	test_disk_full();
	return tap_done();
}
