/*
 * driver_files.c - the `files` driver: a tree of repository files (a
 * config bundle) delivered through the slots.
 *
 * The app's `target` becomes a symlink to STATE_DIR/apps/<app>/current,
 * made once.  `current` is what the engine switches atomically, so the
 * files at the target change from one complete version to the other in a
 * single rename, and a rollback is the same rename back; nothing is ever
 * copied over files a reader may have open.
 *
 * furrow replaces the target only when it is its own link: absent, or a
 * symlink to this app's `current`.  A real directory or file, or a
 * symlink elsewhere, belongs to somebody else and is refused with a clear
 * error (delete or move it once; furrow will not).  Readers need search
 * permission on the state directory to follow the link.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "driver.h"
#include "error.h"
#include "fileutil.h"
#include "slots.h"
#include "strbuf.h"
#include "banned.h"

/* What the target link must say. */
static void link_text(struct strbuf *sb, const struct driver_ctx *c)
{
	strbuf_addf(sb, "%s/current", slots_path(c->slots));
}

/* 1: the target is our link; 0: absent; -1: someone else's (why set). */
static int target_state(const struct driver_ctx *c, char *why, size_t size)
{
	struct strbuf want = STRBUF_INIT;
	char buf[4096];
	struct stat st;
	ssize_t n;
	int ret;

	if (lstat(c->spec->target, &st) < 0) {
		snprintf(why, size, "%s is missing", c->spec->target);
		return 0;
	}
	if (!S_ISLNK(st.st_mode)) {
		snprintf(why, size, "%s exists and is not furrow's link",
			 c->spec->target);
		return -1;
	}
	n = readlink(c->spec->target, buf, sizeof(buf) - 1);
	if (n < 0) {
		snprintf(why, size, "%s: cannot read link", c->spec->target);
		return -1;
	}
	buf[n] = 0;
	link_text(&want, c);
	ret = strcmp(buf, want.buf) ? -1 : 1;
	if (ret < 0)
		snprintf(why, size, "%s points at %s, not at %s",
			 c->spec->target, buf, want.buf);
	strbuf_release(&want);
	return ret;
}

static int files_start(const struct driver_ctx *c, int slot)
{
	(void)c;
	(void)slot;
	return 0;
}

static int files_stop(const struct driver_ctx *c, int slot)
{
	(void)c;
	(void)slot;
	return 0;
}

static int files_running(const struct driver_ctx *c, int slot, char *why,
			 size_t size)
{
	/* Files do not run: a slot not yet switched to is as up as it can
	 * be; the active one is up when the target link leads to it. */
	if (!c->spec || slots_active(c->slots) != slot)
		return 1;
	return target_state(c, why, size) == 1;
}

static int files_activate(const struct driver_ctx *c)
{
	struct strbuf want = STRBUF_INIT, tmp = STRBUF_INIT, dir = STRBUF_INIT;
	char why[512];
	const char *slash;
	int state, ret = 0;

	state = target_state(c, why, sizeof(why));
	if (state == 1)
		return 0;
	if (state < 0)
		return error_set(FURROW_EINVAL, "app %s: target %s; refusing to "
				 "replace it", c->app, why);
	slash = strrchr(c->spec->target, '/');
	strbuf_add(&dir, c->spec->target, (size_t)(slash - c->spec->target));
	if (dir.len && (ret = file_mkdirs(dir.buf, 0755)))
		goto out;
	link_text(&want, c);
	strbuf_addf(&tmp, "%s.furrow-tmp", c->spec->target);
	(void)unlink(tmp.buf);
	if (symlink(want.buf, tmp.buf) < 0 || rename(tmp.buf, c->spec->target) < 0) {
		ret = error_errno(FURROW_EIO, "app %s: cannot link %s to %s",
				  c->app, c->spec->target, want.buf);
		(void)unlink(tmp.buf);
	}
out:
	strbuf_release(&want);
	strbuf_release(&tmp);
	strbuf_release(&dir);
	return ret;
}

static int files_remove(const struct driver_ctx *c)
{
	char why[512];

	if (!c->spec || target_state(c, why, sizeof(why)) != 1)
		return 0;   /* not ours (any more): leave it */
	if (unlink(c->spec->target) < 0 && errno != ENOENT)
		return error_errno(FURROW_EIO, "app %s: cannot remove %s",
				   c->app, c->spec->target);
	return 0;
}

const struct driver driver_files = {
	APPSPEC_FILES, files_start, files_stop, files_running, files_activate,
	files_remove, NULL, NULL,
};
