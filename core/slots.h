/*
 * slots.h - an app's two A/B slots on disk: the filesystem half of an
 * update (no LMDB, no processes).
 *
 * Layout, under state_dir:
 *
 *   apps/<app>/            0700, created by slots_open()
 *   apps/<app>/data/       the persistent data directory; never staged,
 *                          emptied or switched by this file
 *   apps/<app>/a/, b/      the two slots
 *   apps/<app>/current     symlink to "a" or "b" (relative); absent until
 *                          the first slots_switch()
 *   apps/<app>/a/.furrow-slot
 *                          the slot's manifest, written last by
 *                          slots_stage_commit()
 *
 * An update stages the inactive slot (slots_stage_begin(), one
 * slot_stage_file() per file, slots_stage_commit()), the caller starts and
 * health-checks it, then slots_switch() moves `current` atomically.  The
 * old slot is left as it is, for instant rollback.
 *
 * Crash safety.  slots_stage_begin() removes the manifest first (and
 * syncs the slot directory) before emptying the slot; staged files are
 * fsynced one by one; slots_stage_commit() syncs every directory of the
 * slot, then writes the manifest (temporary file, fsync, rename, fsync of
 * the slot directory).  So a slot whose manifest is missing or invalid
 * was not completely staged, whatever else it holds: slots_verify()
 * reports it incomplete and slots_switch() refuses it.  `current` is
 * replaced by rename(2) of a fresh symlink, so at every instant it
 * resolves to "a" or "b", before and after a crash.
 *
 * Containment.  Every operation works relative to a directory descriptor
 * of apps/<app>/ opened once by slots_open(); below it nothing is opened
 * through a symlink (O_NOFOLLOW on every component, AT_SYMLINK_NOFOLLOW
 * on every stat), so a symlink planted in a slot - by the app, by a
 * user - is removed or reported as a file, never followed.  Nothing
 * outside apps/<app>/ is ever written, emptied or removed.
 *
 * Limits (core/limits.h): LIMIT_SLOT_FILES files and LIMIT_SLOT_BYTES
 * bytes per staged slot, LIMIT_SLOT_PATH_DEPTH directory levels walked,
 * LIMIT_SLOT_MANIFEST_BYTES for the manifest, LIMIT_SLOT_DRIFT entries
 * in a drift report.
 *
 * Errors follow core/error.h: 0 or a negative FURROW_E* code with the
 * message recorded.  A full disk (ENOSPC, EDQUOT) is FURROW_EIO with a
 * message that says "disk full" and names the app, slot and file; it
 * leaves the active slot and `current` untouched.  A struct slots is not
 * safe to share between threads; two processes must not stage the same
 * app at once (the caller holds the state dir lock, furrow.lock).
 */
#ifndef FURROW_SLOTS_H
#define FURROW_SLOTS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SLOTS_MANIFEST ".furrow-slot" /* name reserved in every slot */

struct slots;
struct slot_stage;

/*
 * Open the slots of app under state_dir, creating state_dir/apps/<app>/
 * (0700, and apps/ and state_dir if needed) and its data/ directory.
 * app must be an app name: [a-z0-9][a-z0-9_.-]*, at most 63 bytes
 * (FURROW_EINVAL otherwise).  apps/<app> must be a real directory, not a
 * symlink (FURROW_EINVAL).  *out belongs to the caller: slots_free().
 */
int slots_open(struct slots **out, const char *state_dir, const char *app);

/* Close and free; accepts NULL. */
void slots_free(struct slots *s);

/* "STATE_DIR/apps/APP", owned by s. */
const char *slots_path(const struct slots *s);

/*
 * The active slot: 'a' or 'b' as `current` says, or 0 when there is no
 * `current` or it holds anything but "a" or "b" (then no slot is active
 * and either may be staged).
 */
int slots_active(const struct slots *s);

/* The slot an update stages: the other one, or 'a' when none is active. */
int slots_inactive(const struct slots *s);

/*
 * Begin staging the inactive slot: remove its manifest (synced), then
 * empty it - every file, symlink and directory below it, without
 * following a symlink - and create it if missing (0755).  If the slot
 * name itself is a symlink or a file, that is removed and a directory
 * made in its place.  *out belongs to the caller: slot_stage_free(),
 * with or without a commit.  Fails with FURROW_EIO (nothing staged), or
 * FURROW_ELIMIT when the slot is nested deeper than LIMIT_SLOT_PATH_DEPTH.
 */
int slots_stage_begin(struct slots *s, struct slot_stage **out);

/* The slot being staged: 'a' or 'b'. */
int slot_stage_slot(const struct slot_stage *st);

/*
 * Write one file of the slot: relpath (checked with repopath_check(),
 * and not SLOTS_MANIFEST) gets len bytes of data and exactly mode
 * (permission bits only, at most 0777; 0755 for executables, usually
 * 0644), whatever the umask.  Missing parent directories are created
 * (0755); none is followed if it is a symlink.  The file is created
 * exclusively (staging the same path twice is FURROW_EINVAL) and fsynced
 * before this returns.  FURROW_ELIMIT past LIMIT_SLOT_FILES files or
 * LIMIT_SLOT_BYTES bytes.  After any failure the stage is dead: later
 * calls and slots_stage_commit() fail, and the slot stays incomplete.
 */
int slot_stage_file(struct slot_stage *st, const char *relpath,
		    const void *data, size_t len, mode_t mode);

/* What a committed slot was made from, recorded in its manifest. */
struct slot_manifest_info {
	const char *commit;      /* Git commit id: 1-64 lowercase hex digits */
	const char *spec_sha256; /* sha256 of the app spec: 64 hex digits */
};

/*
 * Finish staging: sync every directory of the slot, then write the
 * manifest (format version, commit id, spec sha256, and per file its
 * sha256, mode, size and path) and sync the slot directory.  Only then
 * is the slot complete.  FURROW_EINVAL for a malformed info, or if the
 * stage failed earlier or was committed already.
 *
 * Manifest format, one record a line (paths cannot hold a newline):
 *
 *   furrow-slot 1
 *   commit <hex>
 *   spec <sha256>
 *   file <sha256> <mode, octal> <size> <path>     (sorted by path)
 *   end <number of files>
 */
int slots_stage_commit(struct slot_stage *st,
		       const struct slot_manifest_info *info);

/* Free a stage; accepts NULL.  An uncommitted slot stays incomplete. */
void slot_stage_free(struct slot_stage *st);

enum slot_drift_kind {
	SLOT_DRIFT_MISSING = 1, /* in the manifest, not in the slot */
	SLOT_DRIFT_CHANGED,     /* content (sha256), size, mode or type differ
				   (e.g. replaced by a symlink) */
	SLOT_DRIFT_EXTRA,       /* in the slot, not in the manifest (a file,
				   symlink or other non-directory; a directory
				   only if nested past LIMIT_SLOT_PATH_DEPTH) */
};

struct slot_drift {
	enum slot_drift_kind kind;
	char *path;             /* relative to the slot */
};

struct slot_report {
	int complete;           /* 1: the slot has a valid manifest */
	char commit[65];        /* from the manifest, when complete */
	char spec_sha256[65];
	size_t files;           /* files the manifest lists */
	struct slot_drift *drift; /* sorted by kind, then walk order */
	size_t ndrift;
	int truncated;          /* more than LIMIT_SLOT_DRIFT differences */
};

/*
 * Compare slot ('a' or 'b') with its manifest: every listed file must
 * exist as a regular file with the recorded size, mode and sha256, and no
 * other file may exist (empty directories are not drift).  Fills *report
 * (release with slot_report_release()) and returns 0 whether or not
 * there is drift; an incomplete slot (manifest missing, truncated or
 * malformed) returns 0 with report->complete = 0 and no drift list.
 * FURROW_ENOENT if the slot does not exist, FURROW_EIO if it cannot be
 * read.  Drift in the active slot is 'a changed or deleted file'.
 */
int slots_verify(struct slots *s, int slot, struct slot_report *report);

/* Free what a report holds and zero it; accepts a zeroed report. */
void slot_report_release(struct slot_report *report);

/*
 * Make slot ('a' or 'b') the active one: symlink "current.tmp" -> slot,
 * rename it over `current`, fsync apps/<app>/.  At every instant
 * `current` resolves to the old or the new slot.  Switching to the slot
 * already active changes nothing but still syncs the directory.  Refuses
 * (FURROW_EINVAL) a slot without a valid manifest; FURROW_EIO on a
 * failure, `current` then unchanged.
 */
int slots_switch(struct slots *s, int slot);

/*
 * Remove `current`, so that no slot is active (undoing a first install,
 * or removing an app), and sync apps/<app>/.
 */
int slots_unset_current(struct slots *s);

/*
 * Remove apps/<app>/<name> - a slot, `data`, or another entry the apply
 * engine keeps there - and everything below it, never following a
 * symlink; absent is success.  name is one path component (BUG()
 * otherwise).  Used to remove an app that left the desired state.
 */
int slots_remove_entry(struct slots *s, const char *name);

#endif
