/*
 * appspec_int.h - what core/appspec.c shares with core/appspec_deps.c:
 * the error collector, so that the problems of every app and of the
 * rules between apps come out as one message.  Not for other modules.
 */
#ifndef FURROW_APPSPEC_INT_H
#define FURROW_APPSPEC_INT_H

#include <stdarg.h>
#include <stddef.h>

#include "appspec.h"
#include "strbuf.h"

struct appspec_report {
	struct strbuf errors; /* lines shown so far */
	int count;            /* problems found */
	int hidden;           /* of those, not shown */
	int first_code;       /* FURROW_E* of the first */
};

void appspec_report_init(struct appspec_report *r);
void appspec_report_release(struct appspec_report *r);

/* Record "FILE[:LINE]: app APP: PATH: message" (app and path optional). */
__attribute__((format(printf, 7, 0)))
void appspec_report_add(struct appspec_report *r, int code, const char *file,
			int line, const char *app, const char *path,
			const char *fmt, va_list ap);

/* 0 if nothing was recorded, else error_set() of every line kept. */
int appspec_report_finish(struct appspec_report *r, const char *file);

/* appspec_parse(), adding problems to rep instead of error_set(); returns
 * 0 or a negative code (the message is in rep). */
int appspec_parse_into(struct appspec **out, struct appspec_report *rep,
		       const char *file, int line, const char *name,
		       const struct value *spec);

/* Append s quoted for a message: at most 80 bytes, non-printable bytes
 * as \ddd, so that no user string can forge a log line or a terminal. */
void appspec_show(struct strbuf *sb, const char *s, size_t len);

/* The string forms of core/appspec_forms.c.  The is_ ones answer 1 or 0
 * for s[0..len); the _problem ones NULL, or why s is not of that form. */

/* A-Z a-z 0-9 _ */
int appspec_is_ident_char(char ch);
/* Any byte below 0x20, or 0x7f. */
int appspec_has_control(const char *s);
/* [A-Za-z_][A-Za-z0-9_]*, at most LIMIT_APP_KEY_BYTES: env, secrets. */
int appspec_is_identifier(const char *s, size_t len);
/* [first][first or punct]*, 1 to max bytes; first is a-z 0-9, and A-Z
 * if upper. */
int appspec_is_name(const char *s, size_t len, size_t max, int upper,
		    const char *punct);
/* The app name rule of lua/desired.lua. */
int appspec_is_app_name(const char *s, size_t len);
/* Data directory names: [a-z0-9][a-z0-9._-]{0,62}. */
int appspec_is_data_name(const char *s, size_t len);
/* The agent config's rule for host labels, so that selectors can match. */
int appspec_is_label(const char *s, size_t len);
/* 1 to max decimal digits. */
int appspec_all_digits(const char *s, size_t max);
/* "1".."65535" without sign or leading zero; 0 if not. */
unsigned appspec_port_number(const char *s, size_t len);
/* A clean absolute path other than "/". */
const char *appspec_abs_path_problem(const char *s);
/* [DOMAIN[:PORT]/]PATH[:TAG][@sha256:HEX]; *digest points into s at
 * "sha256:..." when pinned, else NULL. */
const char *appspec_image_problem(const char *s, const char **digest);
/* "[IP:]HOST:CONTAINER[/tcp|/udp]" into *port; port->host_ip is
 * allocated even on failure (the caller frees it). */
const char *appspec_port_problem(const char *s, struct appspec_port *port);

#endif
