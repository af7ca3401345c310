/*
 * log.h - one line per event on stderr, logfmt or JSON.
 *
 *   log_event(LOG_INFO, "config.loaded", "config is valid",
 *             "path", path, "host", id, NULL);
 *
 * Every line carries the stable keys time, level, event and msg, then the
 * given key/value pairs (strings; a NULL value is skipped).  Lines are
 * bounded by LIMIT_LOG_LINE_BYTES and written with one write(2), so lines
 * from several processes do not interleave.
 */
#ifndef FURROW_LOG_H
#define FURROW_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
enum log_format { LOG_FORMAT_LOGFMT, LOG_FORMAT_JSON };

void log_setup(enum log_format format, enum log_level level);
/* Parse "logfmt"/"json" and "debug"/"info"/"warn"/"error"; -1 if unknown. */
int log_format_parse(const char *s);
int log_level_parse(const char *s);
const char *log_level_name(enum log_level level);
const char *log_format_name(enum log_format format);

/* For tests: send lines to fd instead of stderr (2). */
void log_set_fd(int fd);

void log_event(enum log_level level, const char *event, const char *msg, ...)
	__attribute__((sentinel));

#endif
