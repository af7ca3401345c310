/*
 * appspec_forms.c - the string forms of app fields (image references,
 * port mappings, paths, names, durations) and the message collector,
 * for core/appspec.c and core/appspec_deps.c (see appspec_int.h).
 *
 * Each form check answers NULL or why not, and knows nothing of where
 * the string came from: the caller names the field.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <string.h>

#include "appspec.h"
#include "appspec_int.h"
#include "bug.h"
#include "error.h"
#include "limits.h"
#include "banned.h"

#define NAME_MAX_BYTES   63        /* app and data names */
#define PORT_MAX         65535
#define DURATION_MAX     (366LL * 86400)
#define SHOW_BYTES       80

void appspec_report_init(struct appspec_report *r)
{
	memset(r, 0, sizeof(*r));
	strbuf_init(&r->errors, 0);
}

void appspec_report_release(struct appspec_report *r)
{
	strbuf_release(&r->errors);
}

void appspec_report_add(struct appspec_report *r, int code, const char *file,
			int line, const char *app, const char *path,
			const char *fmt, va_list ap)
{
	struct strbuf one = STRBUF_INIT;

	if (!r->first_code)
		r->first_code = code;
	/* Formatting (and the suggestions behind it) only for lines shown. */
	if (++r->count > LIMIT_APP_ERRORS) {
		r->hidden++;
		return;
	}
	strbuf_addstr(&one, file);
	if (line > 0)
		strbuf_addf(&one, ":%d", line);
	if (app)
		strbuf_addf(&one, ": app %s", app);
	if (path && *path)
		strbuf_addf(&one, ": %s", path);
	strbuf_addstr(&one, ": ");
	strbuf_vaddf(&one, fmt, ap);
	/* error.h keeps FURROW_ERROR_MAX bytes: whole lines or none, with
	 * room left for the count of what was not shown. */
	if (r->errors.len + one.len + 1 > FURROW_ERROR_MAX - 64) {
		r->hidden++;
	} else {
		if (r->errors.len)
			strbuf_addch(&r->errors, '\n');
		strbuf_addstr(&r->errors, one.buf);
	}
	strbuf_release(&one);
}

int appspec_report_finish(struct appspec_report *r, const char *file)
{
	if (!r->count)
		return 0;
	if (r->hidden)
		strbuf_addf(&r->errors, "%s%s: %d more errors not shown",
			    r->errors.len ? "\n" : "", file, r->hidden);
	return error_set(r->first_code, "%s", r->errors.buf);
}

void appspec_show(struct strbuf *sb, const char *s, size_t len)
{
	strbuf_addch(sb, '\'');
	for (size_t i = 0; i < len && i < SHOW_BYTES; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch < 0x20 || ch >= 0x7f || ch == '\\' || ch == '\'')
			strbuf_addf(sb, "\\%03u", ch);
		else
			strbuf_addch(sb, (char)ch);
	}
	strbuf_addstr(sb, len > SHOW_BYTES ? "'..." : "'");
}

int appspec_is_ident_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') || ch == '_';
}

int appspec_has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

/* [A-Za-z_][A-Za-z0-9_]*, at most LIMIT_APP_KEY_BYTES. */
int appspec_is_identifier(const char *s, size_t len)
{
	if (!len || len > LIMIT_APP_KEY_BYTES || (s[0] >= '0' && s[0] <= '9'))
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!appspec_is_ident_char(s[i]))
			return 0;
	return 1;
}

/* [first][first or punct]*, 1 to max bytes; first is a-z 0-9 (A-Z if
 * upper).  Spelled out so that no locale applies. */
int appspec_is_name(const char *s, size_t len, size_t max, int upper,
		   const char *punct)
{
	if (!len || len > max)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];
		int alnum = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
			    (upper && ch >= 'A' && ch <= 'Z');

		if (!alnum && (i == 0 || !ch || !strchr(punct, ch)))
			return 0;
	}
	return 1;
}

int appspec_is_app_name(const char *s, size_t len)
{
	return appspec_is_name(s, len, NAME_MAX_BYTES, 1, "._-");
}

int appspec_is_data_name(const char *s, size_t len)
{
	return appspec_is_name(s, len, NAME_MAX_BYTES, 0, "._-");
}

/* Host labels: the agent config's rule (1 to LIMIT_LABEL_BYTES of
 * A-Z a-z 0-9 . _ - /), so that a selector can match. */
int appspec_is_label(const char *s, size_t len)
{
	if (!len || len > LIMIT_LABEL_BYTES)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!appspec_is_ident_char(s[i]) && (!s[i] || !strchr(".-/", s[i])))
			return 0;
	return 1;
}

/* NULL if s is a clean absolute path other than "/", else why not. */
const char *appspec_abs_path_problem(const char *s)
{
	const char *p;

	if (s[0] != '/')
		return "must be an absolute path";
	if (!s[1])
		return "must not be / itself";
	if (strlen(s) > LIMIT_PATH_BYTES)
		return "is longer than LIMIT_PATH_BYTES";
	if (appspec_has_control(s))
		return "must not contain control characters";
	for (p = s + 1;; ) {
		const char *end = strchr(p, '/');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (!len || (len == 1 && p[0] == '.') ||
		    (len == 2 && p[0] == '.' && p[1] == '.'))
			return "must not contain empty, '.' or '..' components";
		if (!end)
			return NULL;
		p = end + 1;
	}
}

int appspec_all_digits(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (!n || n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/* "1".."65535" without sign or leading zeros; 0 if not. */
unsigned appspec_port_number(const char *s, size_t len)
{
	unsigned n = 0;

	if (!len || len > 5 || s[0] == '0')
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		n = n * 10 + (unsigned)(s[i] - '0');
	}
	return n <= PORT_MAX ? n : 0;
}

/* A DNS name: dot-separated labels of A-Z a-z 0-9 -, no label empty
 * or starting or ending with '-'. */
static int host_ok(const char *s, size_t len)
{
	size_t start = 0;

	for (size_t i = 0; i <= len; i++) {
		if (i == len || s[i] == '.') {
			if (i == start || s[start] == '-' || s[i - 1] == '-')
				return 0;
			start = i + 1;
		} else if (!appspec_is_ident_char(s[i]) || s[i] == '_') {
			if (s[i] != '-')
				return 0;
		}
	}
	return 1;
}

/*
 * An image reference, docker's grammar, a little looser in path
 * components: [DOMAIN[:PORT]/]PATH[:TAG][@sha256:HEX].  NULL if fine
 * (*digest then points at "sha256:..." or is NULL), else why not.
 */
const char *appspec_image_problem(const char *s, const char **digest)
{
	const char *at = strchr(s, '@'), *end, *slash, *colon, *p;
	size_t n;

	*digest = NULL;
	if (at) {
		const char *h = at + 1;

		if (strncmp(h, "sha256:", 7))
			return "the digest must be sha256:<64 hex digits>";
		h += 7;
		for (n = 0; h[n]; n++)
			if (!((h[n] >= '0' && h[n] <= '9') ||
			      (h[n] >= 'a' && h[n] <= 'f')))
				return "the digest must be sha256:<64 lowercase "
				       "hex digits>";
		if (n != 64)
			return "the digest must be sha256:<64 lowercase hex "
			       "digits>";
		*digest = at + 1;
	}
	end = at ? at : s + strlen(s);
	if (end == s)
		return "no repository name";
	slash = NULL;
	for (p = s; p < end; p++)
		if (*p == '/')
			slash = p;
	colon = NULL;
	for (p = slash ? slash : s; p < end; p++)
		if (*p == ':')
			colon = p;
	if (colon) {
		/* A tag: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}. */
		n = (size_t)(end - colon - 1);
		if (!n || n > 128 || colon[1] == '.' || colon[1] == '-')
			return "a tag is 1 to 128 of A-Z a-z 0-9 _ . - "
			       "(not starting with . or -)";
		for (p = colon + 1; p < end; p++)
			if (!appspec_is_ident_char(*p) && *p != '.' && *p != '-')
				return "a tag is 1 to 128 of A-Z a-z 0-9 _ . -";
		end = colon;
	}
	p = s;
	/* A first component with '.' or ':' or "localhost" is a registry. */
	{
		const char *first_end = memchr(s, '/', (size_t)(end - s));

		if (first_end) {
			size_t fl = (size_t)(first_end - s);

			if (memchr(s, '.', fl) || memchr(s, ':', fl) ||
			    (fl == 9 && !memcmp(s, "localhost", 9))) {
				const char *pc = memchr(s, ':', fl);
				size_t hl = pc ? (size_t)(pc - s) : fl;

				if (!host_ok(s, hl))
					return "bad registry host";
				if (pc && !appspec_port_number(pc + 1, fl - hl - 1))
					return "bad registry port";
				p = first_end + 1;
			}
		}
	}
	/* Path components: [a-z0-9] at both ends, [a-z0-9._-] between. */
	for (;;) {
		const char *ce = memchr(p, '/', (size_t)(end - p));
		size_t cl = ce ? (size_t)(ce - p) : (size_t)(end - p);

		if (!appspec_is_name(p, cl, 255, 0, "._-") || p[cl - 1] == '.' ||
		    p[cl - 1] == '_' || p[cl - 1] == '-')
			return "repository path components are lowercase "
			       "a-z 0-9, with . _ - inside";
		if (!ce)
			break;
		p = ce + 1;
	}
	if ((size_t)(end - s) > 255)
		return "the repository name is longer than 255 bytes";
	return NULL;
}

/*
 * "[IP:]HOST:CONTAINER[/tcp|/udp]" into *port (host_ip allocated).
 * NULL if fine, else why not.
 */
const char *appspec_port_problem(const char *s, struct appspec_port *port)
{
	const char *proto = strchr(s, '/'), *end, *hp, *cp, *p;
	char addr[64];
	unsigned char buf[16];
	size_t n;

	memset(port, 0, sizeof(*port));
	end = proto ? proto : s + strlen(s);
	if (proto) {
		if (!strcmp(proto, "/udp"))
			port->udp = 1;
		else if (strcmp(proto, "/tcp"))
			return "the protocol is /tcp or /udp";
	}
	cp = NULL;
	for (p = s; p < end; p++)
		if (*p == ':')
			cp = p;
	if (!cp)
		return "give both ports, HOST:CONTAINER";
	port->container_port = appspec_port_number(cp + 1, (size_t)(end - cp - 1));
	if (!port->container_port)
		return "ports are numbers from 1 to 65535";
	hp = s;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close + 1 >= cp || close[1] != ':')
			return "an IPv6 address is written [ADDR]:HOST:CONTAINER";
		n = (size_t)(close - s - 1);
		if (n >= sizeof(addr))
			return "bad IPv6 address";
		memcpy(addr, s + 1, n);
		addr[n] = '\0';
		if (inet_pton(AF_INET6, addr, buf) != 1)
			return "bad IPv6 address";
		port->host_ip = xstrdup(addr);
		hp = close + 2;
	} else {
		const char *c1 = memchr(s, ':', (size_t)(cp - s));

		if (c1) {
			n = (size_t)(c1 - s);
			if (n >= sizeof(addr))
				return "bad IPv4 address";
			memcpy(addr, s, n);
			addr[n] = '\0';
			if (inet_pton(AF_INET, addr, buf) != 1)
				return "bad IPv4 address (IPv6 goes in [ ])";
			port->host_ip = xstrdup(addr);
			hp = c1 + 1;
		}
	}
	port->host_port = appspec_port_number(hp, (size_t)(cp - hp));
	if (!port->host_port)
		return "ports are numbers from 1 to 65535";
	return NULL;
}

int appspec_parse_duration(const char *s, long long *seconds)
{
	static const struct { char unit; long long mult; } units[] = {
		{ 'd', 86400 }, { 'h', 3600 }, { 'm', 60 }, { 's', 1 },
	};
	size_t next = 0;
	long long total = 0;

	if (!*s)
		return FURROW_EINVAL;
	while (*s) {
		long long n = 0;
		int digits = 0;

		while (*s >= '0' && *s <= '9') {
			if (++digits > 9)
				return FURROW_EINVAL;
			n = n * 10 + (*s++ - '0');
		}
		if (!digits)
			return FURROW_EINVAL;
		while (next < 4 && units[next].unit != *s)
			next++;
		if (next == 4)
			return FURROW_EINVAL; /* unknown or out of order */
		total += n * units[next++].mult;
		s++;
		if (total > DURATION_MAX)
			return FURROW_EINVAL;
	}
	if (total <= 0)
		return FURROW_EINVAL;
	*seconds = total;
	return 0;
}
