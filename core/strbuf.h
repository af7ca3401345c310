/*
 * strbuf.h - growable byte strings (after git's strbuf).
 *
 * Invariants: buf is never NULL and always NUL-terminated, so a fresh
 * STRBUF_INIT can be printed at once; len excludes the NUL.  Growth is
 * allocate-or-die.  Callers that hold untrusted sizes check them against
 * core/limits.h before appending.
 */
#ifndef FURROW_STRBUF_H
#define FURROW_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

struct strbuf {
	size_t alloc;
	size_t len;
	char *buf;
};

extern char strbuf_slopbuf[];
#define STRBUF_INIT { 0, 0, strbuf_slopbuf }

void strbuf_init(struct strbuf *sb, size_t hint);
/* Free the buffer and reset to STRBUF_INIT; safe to call twice. */
void strbuf_release(struct strbuf *sb);
/* Hand the buffer to the caller (free() it); sb is reset. */
char *strbuf_detach(struct strbuf *sb, size_t *len);
void strbuf_grow(struct strbuf *sb, size_t extra);
void strbuf_setlen(struct strbuf *sb, size_t len);
#define strbuf_reset(sb) strbuf_setlen((sb), 0)

void strbuf_add(struct strbuf *sb, const void *data, size_t len);
void strbuf_addstr(struct strbuf *sb, const char *s);
void strbuf_addch(struct strbuf *sb, int c);
void strbuf_addf(struct strbuf *sb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void strbuf_vaddf(struct strbuf *sb, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/* Append s as a JSON string literal, quotes included. */
void strbuf_add_json_string(struct strbuf *sb, const char *s, size_t len);

/*
 * Read a whole file into sb, failing with FURROW_ELIMIT (message names
 * the file and the limit) if it is larger than max bytes.  Returns 0 or a
 * negative FURROW_E* code with the message recorded.
 */
int strbuf_read_file(struct strbuf *sb, const char *path, size_t max);

#endif
