/*
 * test_strbuf_log.c - core/strbuf.c, core/log.c, and the small pieces
 * they stand on (core/error.c, core/bug.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bug.h"
#include "error.h"
#include "json.h"
#include "limits.h"
#include "log.h"
#include "strbuf.h"
#include "tap.h"
#include "value.h"

static void test_strbuf(void)
{
	struct strbuf sb = STRBUF_INIT;
	char *big, *detached;
	size_t i, len;
	int intact = 1;

	ok(sb.buf && sb.buf[0] == '\0' && sb.len == 0,
	   "STRBUF_INIT is an empty, printable string");
	for (i = 0; i < 100000; i++)
		strbuf_addch(&sb, 'a' + (char)(i % 26));
	for (i = 0; i < 100000; i++)
		intact &= sb.buf[i] == 'a' + (char)(i % 26);
	ok(sb.len == 100000 && sb.alloc > sb.len && sb.buf[sb.len] == '\0' &&
	   intact, "100000 addch: content kept through growth, NUL-terminated");
	strbuf_setlen(&sb, 3);
	is_str(sb.buf, "abc", "setlen truncates and terminates");
	strbuf_reset(&sb);
	is_str(sb.buf, "", "reset empties");

	big = xmalloc(10001);
	memset(big, 'z', 10000);
	big[10000] = '\0';
	strbuf_addf(&sb, "<%s|%d>", big, 42);
	ok(sb.len == 10005 && sb.buf[0] == '<' && sb.buf[10001] == '|' &&
	   !strcmp(sb.buf + 10002, "42>") && strspn(sb.buf + 1, "z") == 10000,
	   "addf with a 10000-byte argument");
	strbuf_addf(&sb, "%s", "");
	strbuf_addf(&sb, "%05.1f", 2.25);
	ok(sb.len == 10010 && !strcmp(sb.buf + 10005, "002.2"),
	   "addf appends (and an empty addf adds nothing)");
	free(big);

	strbuf_reset(&sb);
	strbuf_add(&sb, "a\0b", 3);
	ok(sb.len == 3 && !memcmp(sb.buf, "a\0b", 4), "add keeps NUL bytes");
	strbuf_addstr(&sb, "cd");
	ok(sb.len == 5 && !memcmp(sb.buf, "a\0bcd", 6), "addstr appends");

	detached = strbuf_detach(&sb, &len);
	ok(len == 5 && !memcmp(detached, "a\0bcd", 6) && sb.len == 0 &&
	   sb.alloc == 0 && sb.buf[0] == '\0',
	   "detach hands over the bytes and resets");
	free(detached);
	detached = strbuf_detach(&sb, NULL);
	ok(detached && detached[0] == '\0', "detach of an empty buffer gives "
	   "an allocated empty string");
	free(detached);
	strbuf_init(&sb, 1000);
	ok(sb.alloc >= 1001 && sb.len == 0 && sb.buf[0] == '\0',
	   "init with a hint preallocates");
	strbuf_release(&sb);
	strbuf_release(&sb);
	ok(sb.alloc == 0 && sb.len == 0 && sb.buf[0] == '\0',
	   "release twice is safe");

	strbuf_add_json_string(&sb, "a\"b\\c\n\r\t\x01\x1f\x7f\xc3\xa9 /", 15);
	is_str(sb.buf, "\"a\\\"b\\\\c\\n\\r\\t\\u0001\\u001f\\u007f\xc3\xa9 /\"",
	       "JSON string escaping");
	strbuf_reset(&sb);
	strbuf_add_json_string(&sb, "x\0y", 3);
	is_str(sb.buf, "\"x\\u0000y\"", "a NUL inside is \\u0000");
	strbuf_reset(&sb);
	strbuf_add_json_string(&sb, "", 0);
	is_str(sb.buf, "\"\"", "empty JSON string");
	strbuf_release(&sb);
}

static void write_file(const char *path, size_t n)
{
	FILE *f = fopen(path, "w");

	for (size_t i = 0; f && i < n; i++)
		fputc('0' + (int)(i % 10), f);
	if (!f || fclose(f)) {
		perror(path);
		exit(99);
	}
}

static void test_read_file(void)
{
	struct strbuf sb = STRBUF_INIT;
	char path[512], missing[512];
	int rc, good = 1;

	snprintf(path, sizeof(path), "%s/data", tap_tmpdir());
	snprintf(missing, sizeof(missing), "%s/missing", tap_tmpdir());
	write_file(path, 20000);
	rc = strbuf_read_file(&sb, path, 20000);
	for (size_t i = 0; i < sb.len; i++)
		good &= sb.buf[i] == '0' + (char)(i % 10);
	ok(rc == 0 && sb.len == 20000 && good && sb.buf[20000] == '\0',
	   "read_file: 20000 bytes (several chunks) at exactly the limit");
	strbuf_release(&sb);

	error_clear();
	rc = strbuf_read_file(&sb, path, 19999);
	ok(rc == FURROW_ELIMIT && strstr(error_message(), path) &&
	   strstr(error_message(), "limit of 19999 bytes"),
	   "read_file: one byte over the limit -> limit, naming file and limit");
	tap_diag("%s", error_message());
	strbuf_release(&sb);

	strbuf_addstr(&sb, "pre");
	rc = strbuf_read_file(&sb, path, 20000);
	ok(rc == FURROW_ELIMIT, "read_file counts what the buffer held");
	strbuf_release(&sb);

	error_clear();
	rc = strbuf_read_file(&sb, missing, 100);
	ok(rc == FURROW_ENOENT && strstr(error_message(), missing) &&
	   strstr(error_message(), strerror(ENOENT)),
	   "read_file: missing file -> not-found with strerror");
	ok(sb.len == 0, "nothing read from a missing file");

	error_clear();
	rc = strbuf_read_file(&sb, tap_tmpdir(), 100);
	ok(rc == FURROW_EIO && strstr(error_message(), "cannot read"),
	   "read_file: a directory -> io error");
	strbuf_release(&sb);
}

static void test_error(void)
{
	char longer[3000];

	error_clear();
	is_str(error_message(), "", "no message after clear");
	is_int(error_code(), 0, "code 0 after clear");
	is_int(error_set(FURROW_EINVAL, "bad %s %d", "thing", 7), FURROW_EINVAL,
	       "error_set returns its code");
	is_str(error_message(), "bad thing 7", "error_set formats");
	is_int(error_prefix(FURROW_EIO, "loading %s", "x.lua"), FURROW_EIO,
	       "error_prefix returns its code");
	is_str(error_message(), "loading x.lua: bad thing 7",
	       "error_prefix puts context in front");
	is_int(error_code(), FURROW_EIO, "error_prefix records its code");
	error_clear();
	error_prefix(FURROW_ERR, "only context");
	is_str(error_message(), "only context",
	       "error_prefix on an empty message adds no colon");
	errno = EACCES;
	error_errno(FURROW_EIO, "open %s", "f");
	ok(!strcmp(error_message(), "open f: Permission denied") &&
	   errno == EACCES, "error_errno appends strerror and keeps errno");
	memset(longer, 'm', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	error_set(FURROW_ERR, "%s", longer);
	is_int(strlen(error_message()), FURROW_ERROR_MAX - 1,
	       "long messages are cut to FURROW_ERROR_MAX - 1");
	error_prefix(FURROW_ERR, "ctx");
	is_int(strlen(error_message()), FURROW_ERROR_MAX - 1,
	       "prefixing a full message stays within the buffer");
	is_str(error_name(FURROW_ELIMIT), "limit", "error_name(ELIMIT)");
	is_str(error_name(FURROW_ENOENT), "not-found", "error_name(ENOENT)");
	is_str(error_name(FURROW_ESYNTAX), "syntax", "error_name(ESYNTAX)");
	is_str(error_name(-999), "error", "error_name of an unknown code");
	error_clear();
}

/* Run fn in a child; true if it died of SIGABRT with want on stderr. */
static int dies_with(void (*fn)(void), const char *want)
{
	char buf[4096];
	int fds[2], status;
	ssize_t n, got = 0;
	pid_t pid;

	if (pipe(fds))
		return 0;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		dup2(fds[1], 2);
		close(fds[0]);
		fn();
		_exit(0);
	}
	close(fds[1]);
	while (got < (ssize_t)sizeof(buf) - 1 &&
	       (n = read(fds[0], buf + got, sizeof(buf) - 1 - (size_t)got)) > 0)
		got += n;
	buf[got] = '\0';
	close(fds[0]);
	waitpid(pid, &status, 0);
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT &&
	       strstr(buf, want) != NULL;
}

static void overflow_alloc(void)
{
	free(xmallocarray(SIZE_MAX / 2, 4));
}

static void call_bug(void)
{
	BUG("invariant %d broken", 3);
}

static void bad_setlen(void)
{
	struct strbuf sb = STRBUF_INIT;

	strbuf_setlen(&sb, 1);
}

static void test_bug(void)
{
	char *s = xstrndup("abcdef", 3);
	void *p = xmallocarray(0, 8);

	is_str(s, "abc", "xstrndup copies n bytes and terminates");
	ok(p != NULL, "xmallocarray(0, ...) gives a pointer");
	free(s);
	free(p);
	p = xcalloc(0, 0);
	ok(p != NULL, "xcalloc(0, 0) gives a pointer");
	free(p);
	ok(dies_with(call_bug, "furrow: BUG tests/unit/test_strbuf_log.c:"),
	   "BUG() aborts, naming file and line");
	ok(dies_with(overflow_alloc, "allocation size overflow"),
	   "xmallocarray overflow is a BUG, not a short allocation");
	ok(dies_with(bad_setlen, "strbuf_setlen beyond allocation"),
	   "strbuf_setlen past the allocation is a BUG");
}

/* Read everything waiting in the non-blocking pipe. */
static char *drain(int fd)
{
	struct strbuf sb = STRBUF_INIT;
	char buf[8192];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		strbuf_add(&sb, buf, (size_t)n);
	return strbuf_detach(&sb, NULL);
}

static int count_char(const char *s, char c)
{
	int n = 0;

	for (; *s; s++)
		n += *s == c;
	return n;
}

static void test_log_logfmt(int rd)
{
	char *line;

	log_setup(LOG_FORMAT_LOGFMT, LOG_INFO);
	errno = ERANGE;
	log_event(LOG_INFO, "config.loaded", "config is valid",
		  "path", "/etc/furrow/agent.lua", "skipped", NULL,
		  "space", "a b", "quote", "say \"hi\"", "nl", "l1\nl2",
		  "eq", "k=v", "empty", "", "bs", "c:\\x", NULL);
	ok(errno == ERANGE, "log_event preserves errno");
	line = drain(rd);
	tap_diag("%s", line);
	ok(!strncmp(line, "time=", 5) && strlen(line) > 29 &&
	   line[9] == '-' && line[15] == 'T' && line[28] == 'Z' &&
	   line[29] == ' ', "logfmt: starts with time=YYYY-MM-DDTHH:MM:SS.mmmZ");
	ok(strstr(line, " level=info event=config.loaded "
		  "msg=\"config is valid\" path=/etc/furrow/agent.lua ") != NULL,
	   "logfmt: level, event, quoted msg, bare path in order");
	ok(strstr(line, "skipped") == NULL, "a NULL value is skipped");
	ok(strstr(line, " space=\"a b\"") != NULL, "a value with a space is "
	   "quoted");
	ok(strstr(line, " quote=\"say \\\"hi\\\"\"") != NULL,
	   "quotes inside are escaped");
	ok(strstr(line, " nl=\"l1\\nl2\"") != NULL &&
	   count_char(line, '\n') == 1 && line[strlen(line) - 1] == '\n',
	   "a newline is escaped: one event, one line");
	ok(strstr(line, " eq=\"k=v\"") != NULL, "a value with = is quoted");
	ok(strstr(line, " empty=\"\"") != NULL, "an empty value is \"\"");
	ok(strstr(line, " bs=\"c:\\\\x\"\n") != NULL, "a backslash is quoted "
	   "and escaped");
	free(line);

	log_event(LOG_ERROR, "e", NULL, NULL);
	line = drain(rd);
	ok(strstr(line, " level=error event=e msg=\"\"\n") != NULL,
	   "a NULL msg is logged as empty");
	free(line);
}

static void test_log_json(int rd)
{
	struct value *v = NULL;
	const struct value *x;
	char *line;
	int rc;

	log_setup(LOG_FORMAT_JSON, LOG_DEBUG);
	log_event(LOG_DEBUG, "sync.done", "with \"quotes\"\nand lines",
		  "path", "/a b", "ctl", "\x01\x7f", "utf8", "\xc3\xa9t\xc3\xa9",
		  "skipped", NULL, NULL);
	line = drain(rd);
	tap_diag("%s", line);
	ok(count_char(line, '\n') == 1 && line[strlen(line) - 1] == '\n',
	   "JSON: one line");
	rc = json_parse(&v, "log line", line, strlen(line), 1 << 20);
	ok(rc == 0 && v && v->type == VALUE_TABLE, "JSON: the line parses");
	if (rc)
		tap_diag("%s", error_message());
	x = value_get(v, "time");
	ok(x && x->type == VALUE_STRING && x->u.string.len == 24 &&
	   x->u.string.ptr[23] == 'Z', "JSON: time");
	x = value_get(v, "level");
	ok(x && x->type == VALUE_STRING && !strcmp(x->u.string.ptr, "debug"),
	   "JSON: level");
	x = value_get(v, "event");
	ok(x && x->type == VALUE_STRING && !strcmp(x->u.string.ptr, "sync.done"),
	   "JSON: event");
	x = value_get(v, "msg");
	ok(x && x->type == VALUE_STRING &&
	   !strcmp(x->u.string.ptr, "with \"quotes\"\nand lines"),
	   "JSON: msg round-trips quotes and newlines");
	x = value_get(v, "ctl");
	ok(x && x->type == VALUE_STRING && !strcmp(x->u.string.ptr, "\x01\x7f"),
	   "JSON: control characters round-trip");
	x = value_get(v, "utf8");
	ok(x && x->type == VALUE_STRING &&
	   !strcmp(x->u.string.ptr, "\xc3\xa9t\xc3\xa9"), "JSON: UTF-8 kept");
	ok(value_get(v, "skipped") == NULL, "JSON: a NULL value is skipped");
	ok(v && v->type == VALUE_TABLE && v->u.table.count == 7,
	   "JSON: exactly the 7 keys given");
	value_free(v);
	free(line);
}

/* Over-long lines are cut to LIMIT_LOG_LINE_BYTES and stay parseable. */
static void test_log_long(int rd)
{
	static const char *const fills[] = { "a", "\"", "\x01", "\xc3\xa9" };
	struct strbuf big = STRBUF_INIT;
	struct value *v = NULL;
	char *line;
	size_t f;

	for (f = 0; f < sizeof(fills) / sizeof(*fills); f++) {
		strbuf_reset(&big);
		while (big.len < 3 * LIMIT_LOG_LINE_BYTES)
			strbuf_addstr(&big, fills[f]);
		log_setup(LOG_FORMAT_JSON, LOG_INFO);
		for (size_t pad = 0; pad < 7; pad++) {
			char key[16];
			int rc;

			snprintf(key, sizeof(key), "k%.*s", (int)pad, "xxxxxxx");
			log_event(LOG_WARN, "big", "m", key, big.buf,
				  "after", "x", NULL);
			line = drain(rd);
			rc = json_parse(&v, "long line", line, strlen(line),
					1 << 20);
			if (!ok(strlen(line) <= LIMIT_LOG_LINE_BYTES && rc == 0 &&
				value_get(v, "msg") && value_get(v, "event"),
				"JSON: long value of '%s' (key pad %zu): cut to "
				"%zu bytes, still parses with msg",
				f == 1 ? "\\\"" : f == 2 ? "\\x01" : fills[f],
				pad, strlen(line)))
				tap_diag("%s / %.80s...%s", error_message(), line,
					 line + (strlen(line) > 80 ?
						 strlen(line) - 80 : 0));
			value_free(v);
			v = NULL;
			free(line);
		}
		log_setup(LOG_FORMAT_LOGFMT, LOG_INFO);
		log_event(LOG_WARN, "big", big.buf, NULL);
		line = drain(rd);
		ok(strlen(line) <= LIMIT_LOG_LINE_BYTES &&
		   count_char(line, '\n') == 1 &&
		   strstr(line, "truncated=1\n") != NULL,
		   "logfmt: long msg of '%s' is cut and says so",
		   f == 1 ? "\\\"" : f == 2 ? "\\x01" : fills[f]);
		free(line);
	}
	strbuf_release(&big);
}

static void test_log_levels(int rd)
{
	char *line;

	log_setup(LOG_FORMAT_LOGFMT, LOG_WARN);
	log_event(LOG_DEBUG, "d", "x", NULL);
	log_event(LOG_INFO, "i", "x", NULL);
	line = drain(rd);
	is_str(line, "", "below warn: debug and info are dropped");
	free(line);
	log_event(LOG_WARN, "w", "x", NULL);
	log_event(LOG_ERROR, "e", "x", NULL);
	line = drain(rd);
	ok(strstr(line, "level=warn event=w") &&
	   strstr(line, "level=error event=e") && count_char(line, '\n') == 2,
	   "warn and error pass a warn threshold");
	free(line);
	log_setup(LOG_FORMAT_LOGFMT, LOG_ERROR);
	log_event(LOG_WARN, "w", "x", NULL);
	line = drain(rd);
	is_str(line, "", "warn is dropped at error level");
	free(line);

	is_int(log_format_parse("json"), LOG_FORMAT_JSON, "parse json");
	is_int(log_format_parse("logfmt"), LOG_FORMAT_LOGFMT, "parse logfmt");
	is_int(log_format_parse("JSON"), -1, "format names are exact");
	is_int(log_level_parse("warn"), LOG_WARN, "parse warn");
	is_int(log_level_parse("warning"), -1, "unknown level");
	is_str(log_level_name(LOG_ERROR), "error", "level name");
	is_str(log_format_name(LOG_FORMAT_JSON), "json", "format name");
}

int main(void)
{
	int fds[2];

	test_strbuf();
	test_read_file();
	test_error();
	test_bug();

	if (pipe(fds) || fcntl(fds[0], F_SETFL, O_NONBLOCK)) {
		perror("pipe");
		return 99;
	}
	/* Big enough for the longest line we write. */
	fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);
	log_set_fd(fds[1]);
	test_log_logfmt(fds[0]);
	test_log_json(fds[0]);
	test_log_long(fds[0]);
	test_log_levels(fds[0]);
	log_set_fd(2);
	close(fds[0]);
	close(fds[1]);
	return tap_done();
}
