/*
 * updlock.h - update locks: a file that defers furrow's restart of an app.
 *
 * An app in the middle of something it must not lose (a long job, a
 * migration, a call in progress), or an operator doing maintenance,
 * writes a lock file; while it is held furrow stages the new version
 * but does not restart the app.  The engine looks at
 * STATE_DIR/apps/<app>/data/.furrow-lock, inside the app's own data
 * directory, so the app can write it without any other privilege.  This
 * file only reads, writes and removes such a file; the path is the
 * caller's.
 *
 * File format:
 *
 *   At most LIMIT_UPDLOCK_BYTES (4096) bytes of text.  The first line
 *   is the expiry, as decimal seconds since the Unix epoch (UTC),
 *   optionally followed by blanks and a free-text reason:
 *
 *       1767225600 migrating the database, ask Ana
 *
 *   The lock is held until that second and ignored from then on, so a
 *   lock whose holder crashed cannot block updates forever.  Blanks
 *   around the number are allowed; the reason is the rest of the first
 *   line with blanks trimmed, control characters replaced by '?' and
 *   cut to LIMIT_UPDLOCK_REASON_BYTES (200) bytes.  Lines after the
 *   first are ignored.  The file must be a regular file, not a symbolic
 *   link.  Write it atomically (a temporary file renamed over it), e.g.
 *
 *       echo "$(( $(date +%s) + 3600 )) nightly export" > .furrow-lock.tmp
 *       mv .furrow-lock.tmp .furrow-lock
 *
 * A lock that cannot be understood - empty, not a number, a negative or
 * overflowing number, larger than the limit, a directory, a symbolic
 * link, a FIFO, unreadable - counts as HELD, with no expiry and a
 * problem saying what is wrong.  Whoever wrote it meant to hold off the
 * restart; ignoring it silently would restart the app at exactly the
 * moment it asked not to be.  The problem is shown to the operator,
 * who fixes or removes the file.
 *
 * Reading never blocks and never follows a symbolic link in the last
 * path component (the app owns the directory): the file is opened with
 * O_NOFOLLOW|O_NONBLOCK and must then be a regular file.
 */
#ifndef FURROW_UPDLOCK_H
#define FURROW_UPDLOCK_H

#define UPDLOCK_FILE ".furrow-lock" /* its name in apps/<app>/data/ */

struct updlock {
	int held;          /* 1: do not restart the app now */
	long long until;   /* the expiry read (epoch seconds); 0 if none */
	char reason[256];  /* the reason, "" if none; printable */
	char problem[256]; /* "<path>: <what is wrong>", "" if the file is
	                      absent or well-formed */
};

/*
 * Read the lock at path as of now (epoch seconds) into *out, which is
 * always filled in.  No file: not held.  Expiry <= now: not held, until
 * and reason set.  Expiry > now: held.  Anything wrong with the file,
 * or an error reading it: held, until 0, problem set.  Returns 0, or
 * FURROW_EINVAL (message recorded) only for a NULL out or path.
 */
int updlock_check(struct updlock *out, const char *path, long long now);

/*
 * Replace path with a lock held until `until` (epoch seconds, >= 0),
 * atomically and durably, mode 0644 whatever the umask.  reason may be
 * NULL or "", else one line of printable text of at most
 * LIMIT_UPDLOCK_REASON_BYTES.  The temporary file has a fresh random
 * name created with O_EXCL, never a fixed name, because the directory
 * belongs to the app.  Returns 0, FURROW_EINVAL or FURROW_ELIMIT for a
 * bad argument, FURROW_EIO; the message is recorded.
 */
/*
 * The parser under updlock_check(), on len bytes already read (at most
 * LIMIT_UPDLOCK_BYTES): fills until, held and reason, and returns NULL,
 * or a static description of what is wrong (out->held is then left to
 * the caller).  Exposed for the fuzz target.
 */
const char *updlock_parse(struct updlock *out, const char *buf, size_t len,
			  long long now);

int updlock_write(const char *path, long long until, const char *reason);

/* Remove the lock at path; no lock is success.  Returns 0 or FURROW_EIO
 * (message recorded). */
int updlock_remove(const char *path);

#endif
