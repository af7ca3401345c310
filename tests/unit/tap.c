/*
 * tap.c - see tap.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

static int tap_count, tap_failed;
static char tap_dir[256];

int tap_ok(int pass, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	tap_count++;
	printf("%s %d - ", pass ? "ok" : "not ok", tap_count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	if (!pass) {
		tap_failed++;
		printf("#   failed at %s:%d\n", file, line);
	}
	fflush(stdout);
	return pass;
}

int tap_is_int(long long got, long long want, const char *file, int line,
	       const char *name)
{
	int pass = got == want;

	tap_ok(pass, file, line, "%s", name);
	if (!pass)
		printf("#   got %lld, want %lld\n", got, want);
	return pass;
}

int tap_is_str(const char *got, const char *want, const char *file, int line,
	       const char *name)
{
	int pass = got && want ? strcmp(got, want) == 0 : got == want;

	tap_ok(pass, file, line, "%s", name);
	if (!pass)
		printf("#   got  \"%s\"\n#   want \"%s\"\n", got ? got : "(null)",
		       want ? want : "(null)");
	return pass;
}

void tap_diag(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

const char *tap_tmpdir(void)
{
	const char *base = getenv("TMPDIR");

	if (!tap_dir[0]) {
		snprintf(tap_dir, sizeof(tap_dir), "%s/furrow-unit-XXXXXX",
			 base && *base ? base : "/tmp");
		if (!mkdtemp(tap_dir)) {
			perror("mkdtemp");
			exit(99);
		}
	}
	return tap_dir;
}

int tap_done(void)
{
	if (tap_dir[0]) {
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tap_dir);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", tap_dir);
	}
	printf("1..%d\n", tap_count);
	if (tap_failed)
		printf("# %d of %d checks failed\n", tap_failed, tap_count);
	return tap_failed || !tap_count ? 1 : 0;
}
