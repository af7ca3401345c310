/*
 * log.c - structured log lines (see log.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bug.h"
#include "limits.h"
#include "log.h"
#include "strbuf.h"
#include "banned.h"

static enum log_format log_fmt = LOG_FORMAT_LOGFMT;
static enum log_level log_min = LOG_INFO;
static int log_fd = 2;

void log_setup(enum log_format format, enum log_level level)
{
	log_fmt = format;
	log_min = level;
}

void log_set_fd(int fd)
{
	log_fd = fd;
}

static const char *const level_names[] = { "debug", "info", "warn", "error" };
static const char *const format_names[] = { "logfmt", "json" };

int log_format_parse(const char *s)
{
	for (int i = 0; i < 2; i++)
		if (!strcmp(s, format_names[i]))
			return i;
	return -1;
}

int log_level_parse(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (!strcmp(s, level_names[i]))
			return i;
	return -1;
}

const char *log_level_name(enum log_level level)
{
	return level_names[level];
}

const char *log_format_name(enum log_format format)
{
	return format_names[format];
}

/* logfmt values need quotes when empty or holding space, quote, = or control. */
static void add_logfmt_value(struct strbuf *sb, const char *v)
{
	int quote = !*v;

	for (const char *p = v; *p && !quote; p++)
		if ((unsigned char)*p <= ' ' || *p == '"' || *p == '=' ||
		    *p == '\\' || *p == 0x7f)
			quote = 1;
	if (quote)
		strbuf_add_json_string(sb, v, strlen(v));
	else
		strbuf_addstr(sb, v);
}

static void add_pair(struct strbuf *sb, const char *k, const char *v)
{
	if (log_fmt == LOG_FORMAT_JSON) {
		strbuf_addch(sb, sb->len ? ',' : '{');
		strbuf_add_json_string(sb, k, strlen(k));
		strbuf_addch(sb, ':');
		strbuf_add_json_string(sb, v, strlen(v));
	} else {
		if (sb->len)
			strbuf_addch(sb, ' ');
		strbuf_addstr(sb, k);
		strbuf_addch(sb, '=');
		add_logfmt_value(sb, v);
	}
}

/* Room for the end of a cut line: ,"truncated":"1"} and the newline. */
#define LOG_TAIL_BYTES 24

/*
 * Add a pair, cutting its value so the line stays within
 * LIMIT_LOG_LINE_BYTES; a cut never splits a pair, an escape or a UTF-8
 * sequence, so the line still parses.  Returns 0 if the line is full.
 */
static int add_pair_bounded(struct strbuf *sb, const char *k, const char *v)
{
	size_t room = LIMIT_LOG_LINE_BYTES - LOG_TAIL_BYTES, mark = sb->len;
	size_t n = strlen(v);
	char *cut;

	add_pair(sb, k, v);
	if (sb->len <= room)
		return 1;
	/* Cut v down by halves until the pair fits (at most ~12 tries). */
	cut = xstrndup(v, n);
	while (n) {
		n /= 2;
		while (n && ((unsigned char)cut[n] & 0xc0) == 0x80)
			n--;
		cut[n] = '\0';
		strbuf_setlen(sb, mark);
		add_pair(sb, k, cut);
		if (sb->len <= room)
			break;
	}
	free(cut);
	if (sb->len > room)
		strbuf_setlen(sb, mark);
	return 0;
}

void log_event(enum log_level level, const char *event, const char *msg, ...)
{
	struct strbuf sb = STRBUF_INIT;
	char when[32];
	struct timespec ts;
	struct tm tm;
	const char *k, *v;
	va_list ap;
	int saved = errno, full;

	if (level < log_min)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + strlen(when), sizeof(when) - strlen(when), ".%03ldZ",
		 ts.tv_nsec / 1000000);

	/* Keep the line a line: values are cut to fit, and it says so. */
	add_pair(&sb, "time", when);
	add_pair(&sb, "level", level_names[level]);
	full = !add_pair_bounded(&sb, "event", event) ||
	       !add_pair_bounded(&sb, "msg", msg ? msg : "");
	va_start(ap, msg);
	while (!full && (k = va_arg(ap, const char *))) {
		v = va_arg(ap, const char *);
		if (v)
			full = !add_pair_bounded(&sb, k, v);
	}
	va_end(ap);
	if (full)
		add_pair(&sb, "truncated", "1");
	if (log_fmt == LOG_FORMAT_JSON)
		strbuf_addch(&sb, '}');
	strbuf_addch(&sb, '\n');
	(void)!write(log_fd, sb.buf, sb.len);
	strbuf_release(&sb);
	errno = saved;
}
