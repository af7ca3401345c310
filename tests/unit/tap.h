/*
 * tap.h - a tiny TAP producer for the C unit tests.
 *
 *   ok(cond, "what was checked %d", n);
 *   is_int(got, want, "name");  is_str(got, want, "name");
 *   return tap_done();   (exit status 0 only if every check passed)
 *
 * Each test binary links the real core/ sources it tests.
 */
#ifndef FURROW_TAP_H
#define FURROW_TAP_H

int tap_ok(int pass, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int tap_is_int(long long got, long long want, const char *file, int line,
	       const char *name);
int tap_is_str(const char *got, const char *want, const char *file, int line,
	       const char *name);
void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int tap_done(void);

/* A scratch directory for this test binary, removed by tap_done(). */
const char *tap_tmpdir(void);

#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define is_int(got, want, name) \
	tap_is_int((long long)(got), (long long)(want), __FILE__, __LINE__, name)
#define is_str(got, want, name) \
	tap_is_str((got), (want), __FILE__, __LINE__, name)

#endif
