/*
 * test_updlock.c - update lock files (core/updlock.c): absent, live,
 * expired and malformed locks, hostile files in the app's directory,
 * the reason line, and write/remove.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "limits.h"
#include "updlock.h"
#include "tap.h"

#define NOW 1700000000LL

static char lock[512];

static void put(const char *data, size_t len)
{
	FILE *f;

	unlink(lock);
	f = fopen(lock, "w");
	if (!f || fwrite(data, 1, len, f) != len || fclose(f)) {
		perror(lock);
		_exit(99);
	}
}

static void puts_lock(const char *s)
{
	put(s, strlen(s));
}

/* Check the current lock; report whether it is malformed (held with a
 * problem naming the file). */
static int malformed(const char *name)
{
	struct updlock l;
	int ret = updlock_check(&l, lock, NOW);

	if (ret || !l.held || l.until != 0 || !strstr(l.problem, lock)) {
		tap_diag("%s: ret %d held %d until %lld problem \"%s\"", name,
			 ret, l.held, l.until, l.problem);
		return 0;
	}
	tap_diag("%s: %s", name, l.problem);
	return 1;
}

static void test_states(void)
{
	struct updlock l;

	unlink(lock);
	memset(&l, 0x5a, sizeof(l));
	is_int(updlock_check(&l, lock, NOW), 0, "absent: returns 0");
	ok(!l.held && !l.until && !l.reason[0] && !l.problem[0],
	   "absent: not held, everything cleared");

	puts_lock("1700003600 migrating the database\n");
	is_int(updlock_check(&l, lock, NOW), 0, "live: returns 0");
	ok(l.held && l.until == 1700003600 && !l.problem[0], "live: held until expiry");
	is_str(l.reason, "migrating the database", "live: reason");

	puts_lock("1699999999 done\n");
	updlock_check(&l, lock, NOW);
	ok(!l.held && l.until == 1699999999 && !l.problem[0],
	   "expired: ignored, expiry reported");

	puts_lock("1700000000\n");
	updlock_check(&l, lock, NOW);
	ok(!l.held && l.until == NOW, "expiry == now: expired");
	updlock_check(&l, lock, NOW - 1);
	ok(l.held && l.until == NOW, "expiry == now + 1: held");

	puts_lock("1700003600");
	updlock_check(&l, lock, NOW);
	ok(l.held && !l.reason[0] && !l.problem[0], "no newline, no reason: held");

	puts_lock("  1700003600\t  \r\nsecond line is ignored\n-5 junk\n");
	updlock_check(&l, lock, NOW);
	ok(l.held && l.until == 1700003600 && !l.reason[0] && !l.problem[0],
	   "blanks around the number, CRLF, later lines ignored");

	puts_lock("0\n");
	updlock_check(&l, lock, NOW);
	ok(!l.held && !l.problem[0], "expiry 0: expired");

	puts_lock("9223372036854775807 forever\n");
	updlock_check(&l, lock, NOW);
	ok(l.held && l.until == 9223372036854775807LL, "largest expiry accepted");
}

static void test_malformed(void)
{
	char big[LIMIT_UPDLOCK_BYTES + 2];

	puts_lock("");
	ok(malformed("empty"), "empty file: held with a problem");
	puts_lock("\n\n");
	ok(malformed("blank"), "blank first line: held with a problem");
	puts_lock("tomorrow\n");
	ok(malformed("letters"), "letters: held with a problem");
	puts_lock("1700003600abc reason\n");
	ok(malformed("trailing letters"), "digits then letters: held with a problem");
	puts_lock("17000.5\n");
	ok(malformed("fraction"), "a fraction: held with a problem");
	puts_lock("9223372036854775808\n");
	ok(malformed("overflow"), "LLONG_MAX + 1: held with a problem");
	puts_lock("99999999999999999999999999999999\n");
	ok(malformed("huge"), "a huge number: held with a problem");
	puts_lock("-1700003600\n");
	ok(malformed("negative"), "negative: held with a problem");
	puts_lock("+1700003600\n");
	ok(malformed("plus"), "a sign: held with a problem");
	put("1700\0003600\n", 10);
	ok(malformed("nul"), "a NUL inside the number: held with a problem");

	memset(big, ' ', sizeof(big));
	memcpy(big, "1700003600", 10);
	put(big, LIMIT_UPDLOCK_BYTES);
	{
		struct updlock l;

		updlock_check(&l, lock, NOW);
		ok(l.held && l.until == 1700003600 && !l.problem[0],
		   "exactly LIMIT_UPDLOCK_BYTES: accepted");
	}
	put(big, LIMIT_UPDLOCK_BYTES + 1);
	ok(malformed("too big"), "one byte over the limit: held with a problem");
}

static void test_hostile(void)
{
	char target[600];
	struct updlock l;
	time_t t0;

	unlink(lock);
	if (mkdir(lock, 0755) < 0)
		perror("mkdir");
	updlock_check(&l, lock, NOW);
	ok(l.held && l.until == 0 && strstr(l.problem, "directory"),
	   "a directory: held with a problem: %s", l.problem);
	rmdir(lock);

	snprintf(target, sizeof(target), "%s/real-lock", tap_tmpdir());
	{
		FILE *f = fopen(target, "w");

		if (f) {
			fputs("1700003600 valid\n", f);
			fclose(f);
		}
	}
	if (symlink(target, lock) < 0)
		perror("symlink");
	updlock_check(&l, lock, NOW);
	ok(l.held && l.until == 0 && strstr(l.problem, "symbolic link"),
	   "a symlink to a valid lock is not followed: %s", l.problem);
	unlink(lock);

	if (mkfifo(lock, 0644) < 0)
		perror("mkfifo");
	t0 = time(NULL);
	updlock_check(&l, lock, NOW);
	ok(time(NULL) - t0 < 2, "a FIFO with no writer does not block");
	ok(l.held && l.until == 0 && strstr(l.problem, "FIFO"),
	   "a FIFO: held with a problem: %s", l.problem);
	unlink(lock);

	if (geteuid() != 0) {
		puts_lock("1700003600\n");
		chmod(lock, 0);
		updlock_check(&l, lock, NOW);
		ok(l.held && l.until == 0 && strstr(l.problem, "cannot open"),
		   "unreadable: held with a problem: %s", l.problem);
		unlink(lock);
	} else {
		/* Root reads everything: drop to nobody in a child. */
		pid_t pid;
		int status = -1;

		puts_lock("1700003600\n");
		chmod(lock, 0600);
		chmod(tap_tmpdir(), 0711);
		pid = fork();
		if (pid == 0) {
			if (setgid(65534) || setuid(65534))
				_exit(2);
			updlock_check(&l, lock, NOW);
			_exit(l.held && l.until == 0 &&
			      strstr(l.problem, "cannot open: Permission denied") ? 0 : 1);
		}
		waitpid(pid, &status, 0);
		chmod(tap_tmpdir(), 0700);
		ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		   "unreadable (EACCES): held with a problem (status %d)", status);
		unlink(lock);
	}

	is_int(updlock_check(&l, NULL, NOW), FURROW_EINVAL, "NULL path: EINVAL");
	is_int(updlock_check(NULL, lock, NOW), FURROW_EINVAL, "NULL out: EINVAL");
}

static void test_reason(void)
{
	char line[600], want[LIMIT_UPDLOCK_REASON_BYTES + 1];
	struct updlock l;

	puts_lock("1700003600 \t  spaces around \t \n");
	updlock_check(&l, lock, NOW);
	is_str(l.reason, "spaces around", "reason is trimmed");

	puts_lock("1700003600 bell\a esc\033[31m del\177 tab\tend\n");
	updlock_check(&l, lock, NOW);
	is_str(l.reason, "bell? esc?[31m del? tab?end", "control characters become '?'");

	memset(line, 'x', sizeof(line));
	memcpy(line, "1700003600 ", 11);
	line[11 + 300] = '\n';
	put(line, 11 + 301);
	updlock_check(&l, lock, NOW);
	memset(want, 'x', LIMIT_UPDLOCK_REASON_BYTES);
	want[LIMIT_UPDLOCK_REASON_BYTES] = '\0';
	is_str(l.reason, want, "a long reason is cut at LIMIT_UPDLOCK_REASON_BYTES");

	/* "é" (2 bytes) straddling the cut is dropped whole. */
	memset(line, 'x', sizeof(line));
	memcpy(line, "1700003600 ", 11);
	memcpy(line + 11 + LIMIT_UPDLOCK_REASON_BYTES - 1, "\xc3\xa9", 2);
	line[11 + 300] = '\n';
	put(line, 11 + 301);
	updlock_check(&l, lock, NOW);
	is_int(strlen(l.reason), LIMIT_UPDLOCK_REASON_BYTES - 1,
	       "the cut does not split a UTF-8 character");

	puts_lock("1700003600 caf\xc3\xa9 ok\n");
	updlock_check(&l, lock, NOW);
	is_str(l.reason, "caf\xc3\xa9 ok", "UTF-8 in a reason is kept");
}

static void test_write_remove(void)
{
	char reason[LIMIT_UPDLOCK_REASON_BYTES + 2];
	struct updlock l;
	struct stat st;
	char dirbuf[600];
	mode_t old;

	old = umask(077);
	is_int(updlock_write(lock, 1700003600, "nightly export"), 0, "write");
	umask(old);
	ok(lstat(lock, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0644,
	   "written lock is a regular file, mode 0644 whatever the umask");
	updlock_check(&l, lock, NOW);
	ok(l.held && l.until == 1700003600 && !l.problem[0], "round trip: held");
	is_str(l.reason, "nightly export", "round trip: reason");

	is_int(updlock_write(lock, 1600000000, NULL), 0, "overwrite, no reason");
	updlock_check(&l, lock, NOW);
	ok(!l.held && l.until == 1600000000 && !l.reason[0], "round trip: expired, no reason");

	is_int(updlock_write(lock, 1700003600, "two\nlines"), FURROW_EINVAL,
	       "a reason with a newline: EINVAL");
	tap_diag("%s", error_message());
	is_int(updlock_write(lock, -1, "x"), FURROW_EINVAL, "negative expiry: EINVAL");
	memset(reason, 'r', sizeof(reason) - 1);
	reason[sizeof(reason) - 1] = '\0';
	is_int(updlock_write(lock, 1700003600, reason), FURROW_ELIMIT,
	       "a reason over the limit: ELIMIT");
	updlock_check(&l, lock, NOW);
	ok(l.until == 1600000000, "a refused write leaves the lock as it was");

	/* A planted symlink at the lock path is replaced, not followed. */
	snprintf(dirbuf, sizeof(dirbuf), "%s/victim", tap_tmpdir());
	{
		FILE *f = fopen(dirbuf, "w");

		if (f) {
			fputs("precious\n", f);
			fclose(f);
		}
	}
	unlink(lock);
	if (symlink(dirbuf, lock) < 0)
		perror("symlink");
	is_int(updlock_write(lock, 1700003600, "x"), 0, "write over a symlink");
	ok(lstat(lock, &st) == 0 && S_ISREG(st.st_mode), "the symlink was replaced");
	ok(stat(dirbuf, &st) == 0 && st.st_size == 9, "its target is untouched");

	snprintf(dirbuf, sizeof(dirbuf), "%s/no/such/dir/.furrow-lock", tap_tmpdir());
	is_int(updlock_write(dirbuf, 1700003600, NULL), FURROW_EIO,
	       "write into a missing directory: EIO");
	tap_diag("%s", error_message());

	is_int(updlock_remove(lock), 0, "remove");
	ok(lstat(lock, &st) < 0 && errno == ENOENT, "the lock is gone");
	is_int(updlock_remove(lock), 0, "remove again: no lock is success");
	updlock_check(&l, lock, NOW);
	ok(!l.held && !l.problem[0], "removed: not held");

	if (mkdir(lock, 0755) == 0) {
		is_int(updlock_remove(lock), FURROW_EIO, "remove a directory: EIO");
		rmdir(lock);
	}
}

int main(void)
{
	snprintf(lock, sizeof(lock), "%s/%s", tap_tmpdir(), UPDLOCK_FILE);
	test_states();
	test_malformed();
	test_hostile();
	test_reason();
	test_write_remove();
	return tap_done();
}
