/*
 * config.c - load and validate the agent config (see config.h).
 *
 * The schema is one const table; validation, defaults, unknown-key
 * detection and the normalised output are all driven by it, so a new key
 * is one line here plus its documentation in the README.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bug.h"
#include "config.h"
#include "error.h"
#include "limits.h"
#include "sandbox.h"
#include "suggest.h"
#include "value.h"
#include "banned.h"

enum kind {
	K_ID,          /* [A-Za-z0-9._-]+, bounded */
	K_REF,         /* refs/... */
	K_PATH,        /* resolved against the config's directory */
	K_URL_SOURCE,  /* https, http (insecure), git, file, or a path */
	K_URL_HTTP,    /* https, or http (for loopback collectors) */
	K_URL_HTTPS,   /* https only */
	K_SECONDS,
	K_COUNT,       /* an integer from 1 to the field's max_num */
	K_FRACTION,
	K_BOOL,
	K_LABELS,
	K_LOG_FORMAT,
	K_LOG_LEVEL,
};

#define F_REQUIRED 1u
#define F_EXISTS   2u   /* a file that must exist when the config loads */
#define F_ZERO_OK  4u   /* K_SECONDS: 0 means "off" */

struct field {
	const char *key;
	enum kind kind;
	size_t offset;
	unsigned flags;
	const char *def_str;
	double def_num;
	double max_num;    /* K_COUNT only */
};

#define OFF(m) offsetof(struct config, m)

static const struct field fields[] = {
	{ "host.id", K_ID, OFF(host_id), F_REQUIRED, NULL, 0, 0 },
	{ "host.labels", K_LABELS, 0, 0, NULL, 0, 0 },
	{ "source.url", K_URL_SOURCE, OFF(source.url), F_REQUIRED, NULL, 0, 0 },
	{ "source.ref", K_REF, OFF(source.ref), 0, "refs/heads/main", 0, 0 },
	{ "source.ca_file", K_PATH, OFF(source.ca_file), F_EXISTS, NULL, 0, 0 },
	{ "source.token_file", K_PATH, OFF(source.token_file), F_EXISTS, NULL, 0, 0 },
	{ "source.interval", K_SECONDS, OFF(source.interval), 0, NULL, 60, 0 },
	{ "source.jitter", K_FRACTION, OFF(source.jitter), 0, NULL, 0.2, 0 },
	{ "source.timeout", K_SECONDS, OFF(source.timeout), 0, NULL, 30, 0 },
	{ "source.max_age", K_SECONDS, OFF(source.max_age), F_ZERO_OK, NULL, 0, 0 },
	{ "source.insecure", K_BOOL, OFF(source.insecure), 0, NULL, 0, 0 },
	{ "trust.commit_signers", K_PATH, OFF(trust.commit_signers),
	  F_REQUIRED | F_EXISTS, NULL, 0, 0 },
	{ "trust.policy_signers", K_PATH, OFF(trust.policy_signers), F_EXISTS,
	  NULL, 0, 0 },
	{ "state_dir", K_PATH, OFF(state_dir), 0, "/var/lib/furrow", 0, 0 },
	{ "containers.socket", K_PATH, OFF(containers.socket), 0,
	  "/run/podman/podman.sock", 0, 0 },
	{ "containers.registry_auth_file", K_PATH,
	  OFF(containers.registry_auth_file), F_EXISTS, NULL, 0, 0 },
	{ "report.url", K_URL_HTTP, OFF(report.url), 0, NULL, 0, 0 },
	{ "report.ca_file", K_PATH, OFF(report.ca_file), F_EXISTS, NULL, 0, 0 },
	{ "report.token_file", K_PATH, OFF(report.token_file), F_EXISTS, NULL, 0, 0 },
	{ "report.interval", K_SECONDS, OFF(report.interval), 0, NULL, 300, 0 },
	{ "report.timeout", K_SECONDS, OFF(report.timeout), 0, NULL, 10, 0 },
	{ "report.outbox_max_items", K_COUNT, OFF(report.outbox_max_items), 0,
	  NULL, 10000, 1000000 },
	{ "report.outbox_max_bytes", K_COUNT, OFF(report.outbox_max_bytes), 0,
	  NULL, 16777216, 1073741824 },
	{ "metrics.textfile", K_PATH, OFF(metrics.textfile), 0, NULL, 0, 0 },
	{ "backup.key_file", K_PATH, OFF(backup.key_file), F_EXISTS, NULL, 0, 0 },
	{ "backup.offsite.url", K_URL_HTTPS, OFF(backup.offsite_url), 0, NULL, 0, 0 },
	{ "backup.offsite.token_file", K_PATH, OFF(backup.offsite_token_file),
	  F_EXISTS, NULL, 0, 0 },
	{ "backup.offsite.ca_file", K_PATH, OFF(backup.offsite_ca_file),
	  F_EXISTS, NULL, 0, 0 },
	{ "apply.parallel", K_COUNT, OFF(apply.parallel), 0, NULL, 4, 64 },
	{ "apply.retry_failed", K_SECONDS, OFF(apply.retry_failed), F_ZERO_OK,
	  NULL, 0, 0 },
	{ "apply.stop_timeout", K_SECONDS, OFF(apply.stop_timeout), 0, NULL, 10, 0 },
	{ "apply.log_max_bytes", K_COUNT, OFF(apply.log_max_bytes), 0, NULL,
	  1048576, 1073741824 },
	{ "apply.log_keep", K_COUNT, OFF(apply.log_keep), 0, NULL, 3, 100 },
	{ "log.format", K_LOG_FORMAT, OFF(log.format), 0, "logfmt", 0, 0 },
	{ "log.level", K_LOG_LEVEL, OFF(log.level), 0, "info", 0, 0 },
};

#define NFIELDS (sizeof(fields) / sizeof(*fields))
#define MAX_REPORTED_ERRORS 20
#define MAX_SECONDS (7.0 * 86400)

struct loader {
	const char *name;      /* as given, for messages */
	const char *text;      /* source text, for locating keys */
	size_t len;
	char *dir;             /* directory of the file, for relative paths */
	struct config *cfg;
	unsigned char seen[NFIELDS];
	struct strbuf errors;
	int error_count;
	int first_code;
};

/*
 * Best-effort line of a key path in the source: find each component, as
 * a whole word followed by '=', after the previous one, skipping comments
 * and strings.  Good enough to point a human at the right line; 0 if the
 * key is not written literally (computed keys).
 */
static int is_word(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_';
}

static size_t skip_noise(const char *t, size_t len, size_t i)
{
	if (i + 1 < len && t[i] == '-' && t[i + 1] == '-') {
		if (i + 3 < len && t[i + 2] == '[' && t[i + 3] == '[') {
			const char *end = memmem(t + i, len - i, "]]", 2);
			return end ? (size_t)(end - t) + 2 : len;
		}
		while (i < len && t[i] != '\n')
			i++;
		return i;
	}
	if (t[i] == '"' || t[i] == '\'') {
		char q = t[i++];

		while (i < len && t[i] != q && t[i] != '\n')
			i += t[i] == '\\' ? 2 : 1;
		return i < len ? i + 1 : len;
	}
	return i;
}

static size_t find_key(const char *t, size_t len, size_t from,
		       const char *word, size_t wlen)
{
	size_t i = from, j, next;

	while (i < len) {
		next = skip_noise(t, len, i);
		if (next != i) {
			i = next;
			continue;
		}
		if (i + wlen <= len && !memcmp(t + i, word, wlen) &&
		    (i == 0 || !is_word(t[i - 1])) &&
		    (i + wlen == len || !is_word(t[i + wlen]))) {
			j = i + wlen;
			while (j < len && (t[j] == ' ' || t[j] == '\t'))
				j++;
			if (j < len && t[j] == '=' && (j + 1 >= len || t[j + 1] != '='))
				return i;
		}
		i++;
	}
	return len;
}

static int locate_line(const struct loader *ld, const char *path)
{
	size_t pos = 0, found = ld->len;
	const char *p = path, *dot;
	int line = 1;

	while (*p) {
		dot = strchr(p, '.');
		if (!dot)
			dot = p + strlen(p);
		if (*p == '[')
			break; /* array index: keep the parent's line */
		found = find_key(ld->text, ld->len, pos, p, (size_t)(dot - p));
		if (found == ld->len)
			return 0;
		pos = found + 1;
		p = *dot ? dot + 1 : dot;
	}
	if (found == ld->len)
		return 0;
	for (size_t i = 0; i < found; i++)
		line += ld->text[i] == '\n';
	return line;
}

__attribute__((format(printf, 4, 5)))
static void report(struct loader *ld, int code, const char *key,
		   const char *fmt, ...)
{
	va_list ap;
	int line;

	if (!ld->first_code)
		ld->first_code = code;
	/* Locating a key scans the text: only for errors that are shown. */
	if (++ld->error_count > MAX_REPORTED_ERRORS)
		return;
	line = key ? locate_line(ld, key) : 0;
	if (ld->errors.len)
		strbuf_addch(&ld->errors, '\n');
	strbuf_addstr(&ld->errors, ld->name);
	if (line)
		strbuf_addf(&ld->errors, ":%d", line);
	strbuf_addstr(&ld->errors, ": ");
	if (key)
		strbuf_addf(&ld->errors, "%s: ", key);
	va_start(ap, fmt);
	strbuf_vaddf(&ld->errors, fmt, ap);
	va_end(ap);
}

static const struct field *field_find(const char *key)
{
	for (size_t i = 0; i < NFIELDS; i++)
		if (!strcmp(fields[i].key, key))
			return &fields[i];
	return NULL;
}

/* Is key a table of the schema (a proper prefix of some field)? */
static int table_known(const char *key)
{
	size_t n = strlen(key);

	for (size_t i = 0; i < NFIELDS; i++)
		if (!strncmp(fields[i].key, key, n) && fields[i].key[n] == '.')
			return 1;
	return 0;
}

static const char *suggest(const char *key)
{
	const char *best = NULL;
	size_t best_d = SUGGEST_MAX_DISTANCE + 1;

	for (size_t i = 0; i < NFIELDS; i++) {
		size_t d = suggest_distance(key, fields[i].key);

		if (d < best_d) {
			best_d = d;
			best = fields[i].key;
		}
	}
	return best;
}

static int valid_id(const char *s, size_t len, size_t max)
{
	if (!len || len > max)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!is_word(s[i]) && s[i] != '.' && s[i] != '-')
			return 0;
	return 1;
}

static int valid_label(const char *s, size_t len)
{
	if (!len || len > LIMIT_LABEL_BYTES)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!is_word(s[i]) && (!s[i] || !strchr(".-/", s[i])))
			return 0;
	return 1;
}

static int has_prefix(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

static char *resolve_path(const struct loader *ld, const char *p)
{
	struct strbuf sb = STRBUF_INIT;

	if (p[0] == '/')
		return xstrdup(p);
	strbuf_addf(&sb, "%s/%s", ld->dir, p);
	return strbuf_detach(&sb, NULL);
}

static void set_string(struct loader *ld, const struct field *f, char *s)
{
	char **slot = (char **)((char *)ld->cfg + f->offset);

	free(*slot);
	*slot = s;
}

static void check_string(struct loader *ld, const struct field *f,
			 const struct value *v)
{
	const char *s = v->u.string.ptr;
	size_t len = v->u.string.len;

	if (memchr(s, '\0', len)) {
		report(ld, FURROW_EINVAL, f->key, "contains a NUL byte");
		return;
	}
	if (len > LIMIT_PATH_BYTES) {
		report(ld, FURROW_ELIMIT, f->key, "longer than %d bytes",
		       LIMIT_PATH_BYTES);
		return;
	}
	switch (f->kind) {
	case K_ID:
		if (!valid_id(s, len, LIMIT_HOST_ID_BYTES)) {
			report(ld, FURROW_EINVAL, f->key, "\"%s\" is not a valid id "
			       "(1 to %d of A-Z a-z 0-9 . _ -)", s,
			       LIMIT_HOST_ID_BYTES);
			return;
		}
		break;
	case K_REF:
		if (!has_prefix(s, "refs/") || strstr(s, "..") ||
		    strpbrk(s, " ~^:?*[\\")) {
			report(ld, FURROW_EINVAL, f->key, "\"%s\" is not a full "
			       "ref name such as refs/heads/main", s);
			return;
		}
		break;
	case K_PATH:
		if (!len) {
			report(ld, FURROW_EINVAL, f->key, "empty path");
			return;
		}
		set_string(ld, f, resolve_path(ld, s));
		return;
	case K_URL_SOURCE:
		if (has_prefix(s, "https://") || has_prefix(s, "git://") ||
		    has_prefix(s, "file://"))
			break;
		if (has_prefix(s, "http://"))
			break; /* checked against source.insecure at the end */
		if (s[0] == '/' || has_prefix(s, "./") || has_prefix(s, "../")) {
			set_string(ld, f, resolve_path(ld, s));
			return;
		}
		report(ld, FURROW_EINVAL, f->key, "\"%s\": use an https://, "
		       "git://, file:// URL or a local path", s);
		return;
	case K_URL_HTTP:
		if (!has_prefix(s, "https://") && !has_prefix(s, "http://")) {
			report(ld, FURROW_EINVAL, f->key,
			       "\"%s\": use an https:// URL", s);
			return;
		}
		break;
	case K_URL_HTTPS:
		if (!has_prefix(s, "https://")) {
			report(ld, FURROW_EINVAL, f->key,
			       "\"%s\": use an https:// URL", s);
			return;
		}
		break;
	case K_LOG_FORMAT:
		if (log_format_parse(s) < 0) {
			report(ld, FURROW_EINVAL, f->key, "\"%s\": use \"logfmt\" "
			       "or \"json\"", s);
			return;
		}
		ld->cfg->log.format = log_format_parse(s);
		return;
	case K_LOG_LEVEL:
		if (log_level_parse(s) < 0) {
			report(ld, FURROW_EINVAL, f->key, "\"%s\": use \"debug\", "
			       "\"info\", \"warn\" or \"error\"", s);
			return;
		}
		ld->cfg->log.level = log_level_parse(s);
		return;
	default:
		BUG("kind %d is not a string kind", (int)f->kind);
	}
	set_string(ld, f, xstrndup(s, len));
}

static void check_labels(struct loader *ld, const struct field *f,
			 const struct value *v)
{
	struct config *cfg = ld->cfg;
	size_t i, n = v->u.table.count;

	if (n > LIMIT_LABELS) {
		report(ld, FURROW_ELIMIT, f->key, "%zu labels, more than the "
		       "limit of %d", n, LIMIT_LABELS);
		return;
	}
	cfg->labels = xcalloc(n ? n : 1, sizeof(*cfg->labels));
	for (i = 0; i < n; i++) {
		const struct value *k = &v->u.table.entries[i].key;
		const struct value *val = &v->u.table.entries[i].val;

		if (k->type != VALUE_STRING ||
		    !valid_label(k->u.string.ptr, k->u.string.len)) {
			report(ld, FURROW_EINVAL, f->key, "label names are 1 to %d "
			       "of A-Z a-z 0-9 . _ - /", LIMIT_LABEL_BYTES);
			return;
		}
		if (val->type != VALUE_STRING ||
		    !valid_label(val->u.string.ptr, val->u.string.len)) {
			report(ld, FURROW_EINVAL, f->key, "label %s: values are "
			       "strings of 1 to %d of A-Z a-z 0-9 . _ - /",
			       k->u.string.ptr, LIMIT_LABEL_BYTES);
			return;
		}
		cfg->labels[cfg->label_count].key = xstrdup(k->u.string.ptr);
		cfg->labels[cfg->label_count].value = xstrdup(val->u.string.ptr);
		cfg->label_count++;
	}
}

/* http://127.0.0.1[:port]/..., http://[::1]..., http://localhost... */
static int is_loopback_url(const char *url)
{
	static const char *const hosts[] = { "127.0.0.1", "[::1]", "localhost" };
	const char *h = url + strlen("http://");

	for (size_t i = 0; i < sizeof(hosts) / sizeof(*hosts); i++) {
		size_t n = strlen(hosts[i]);

		if (!strncmp(h, hosts[i], n) &&
		    (h[n] == ':' || h[n] == '/' || !h[n]))
			return 1;
	}
	return 0;
}

static void check_field(struct loader *ld, const struct field *f,
			const struct value *v)
{
	double d;

	ld->seen[f - fields] = 1;
	switch (f->kind) {
	case K_COUNT:
		if (v->type != VALUE_INTEGER)
			goto wrong_type;
		if (v->u.integer < 1 || (double)v->u.integer > f->max_num) {
			report(ld, FURROW_EINVAL, f->key, "%lld is out of range "
			       "(1 to %.0f)", v->u.integer, f->max_num);
			return;
		}
		*(double *)((char *)ld->cfg + f->offset) = (double)v->u.integer;
		return;
	case K_SECONDS:
	case K_FRACTION:
		if (v->type != VALUE_INTEGER && v->type != VALUE_NUMBER)
			goto wrong_type;
		d = v->type == VALUE_INTEGER ? (double)v->u.integer : v->u.number;
		if (f->kind == K_FRACTION && !(d >= 0 && d <= 1)) {
			report(ld, FURROW_EINVAL, f->key, "%g is not between 0 "
			       "and 1", d);
			return;
		}
		if (f->kind == K_SECONDS &&
		    !((d > 0 || (d == 0 && (f->flags & F_ZERO_OK))) &&
		      d <= MAX_SECONDS)) {
			report(ld, FURROW_EINVAL, f->key, "%g seconds is out of "
			       "range (%s to %g)", d,
			       f->flags & F_ZERO_OK ? "0" : "above 0", MAX_SECONDS);
			return;
		}
		*(double *)((char *)ld->cfg + f->offset) = d;
		return;
	case K_BOOL:
		if (v->type != VALUE_BOOLEAN)
			goto wrong_type;
		*(int *)((char *)ld->cfg + f->offset) = v->u.boolean;
		return;
	case K_LABELS:
		if (v->type != VALUE_TABLE)
			goto wrong_type;
		check_labels(ld, f, v);
		return;
	default:
		if (v->type != VALUE_STRING)
			goto wrong_type;
		check_string(ld, f, v);
		return;
	}
wrong_type:
	report(ld, FURROW_EINVAL, f->key, "expected %s, got %s",
	       f->kind == K_BOOL ? "a boolean" :
	       f->kind == K_LABELS ? "a table of strings" :
	       f->kind == K_COUNT ? "an integer" :
	       f->kind == K_SECONDS || f->kind == K_FRACTION ? "a number" :
	       "a string", value_type_name(v->type));
}

static void walk(struct loader *ld, const struct value *t, const char *prefix)
{
	struct strbuf key = STRBUF_INIT;

	for (size_t i = 0; i < t->u.table.count; i++) {
		const struct value_entry *e = &t->u.table.entries[i];
		const struct field *f;
		const char *hint;

		strbuf_reset(&key);
		if (e->key.type != VALUE_STRING) {
			report(ld, FURROW_EINVAL, *prefix ? prefix : NULL,
			       "unexpected list element [%lld]; expected "
			       "key = value", e->key.u.integer);
			continue;
		}
		if (*prefix)
			strbuf_addf(&key, "%s.", prefix);
		strbuf_addstr(&key, e->key.u.string.ptr);
		/* ["host.id"] or ["host\0x"] must not alias a schema path:
		 * a field set twice would leak or overflow (labels). */
		if (memchr(e->key.u.string.ptr, '.', e->key.u.string.len) ||
		    memchr(e->key.u.string.ptr, '\0', e->key.u.string.len)) {
			report(ld, FURROW_EINVAL, key.buf, "unknown key");
			continue;
		}
		f = field_find(key.buf);
		if (f) {
			check_field(ld, f, &e->val);
		} else if (table_known(key.buf)) {
			if (e->val.type != VALUE_TABLE)
				report(ld, FURROW_EINVAL, key.buf, "expected a "
				       "table, got %s",
				       value_type_name(e->val.type));
			else
				walk(ld, &e->val, key.buf);
		} else {
			hint = ld->error_count < MAX_REPORTED_ERRORS ?
			       suggest(key.buf) : NULL;
			if (hint)
				report(ld, FURROW_EINVAL, key.buf, "unknown key "
				       "(did you mean %s?)", hint);
			else
				report(ld, FURROW_EINVAL, key.buf, "unknown key");
		}
	}
	strbuf_release(&key);
}

static void apply_defaults(struct loader *ld)
{
	for (size_t i = 0; i < NFIELDS; i++) {
		const struct field *f = &fields[i];

		if (ld->seen[i])
			continue;
		if (f->flags & F_REQUIRED) {
			report(ld, FURROW_EINVAL, NULL, "%s: missing (required)",
			       f->key);
			continue;
		}
		switch (f->kind) {
		case K_SECONDS:
		case K_COUNT:
		case K_FRACTION:
			*(double *)((char *)ld->cfg + f->offset) = f->def_num;
			break;
		case K_LOG_FORMAT:
			ld->cfg->log.format = log_format_parse(f->def_str);
			break;
		case K_LOG_LEVEL:
			ld->cfg->log.level = log_level_parse(f->def_str);
			break;
		case K_BOOL:
		case K_LABELS:
			break;
		default:
			if (f->def_str)
				set_string(ld, f, xstrdup(f->def_str));
		}
	}
}

static void check_cross(struct loader *ld)
{
	struct config *cfg = ld->cfg;

	for (size_t i = 0; i < NFIELDS; i++) {
		const struct field *f = &fields[i];
		const char *p;

		if (!(f->flags & F_EXISTS) || !ld->seen[i])
			continue;
		p = *(char **)((char *)cfg + f->offset);
		if (p && access(p, R_OK) != 0)
			report(ld, FURROW_ENOENT, f->key, "cannot read %s: %s", p,
			       strerror(errno));
	}
	if (cfg->source.url && has_prefix(cfg->source.url, "http://") &&
	    !cfg->source.insecure)
		report(ld, FURROW_EINVAL, "source.url", "plain http:// needs "
		       "source.insecure = true (use https://)");
	/* A collector on this host may speak plain http (nothing crosses
	 * a network); anything else needs the explicit opt-in. */
	if (cfg->report.url && has_prefix(cfg->report.url, "http://") &&
		!is_loopback_url(cfg->report.url))
		report(ld, FURROW_EINVAL, "report.url", "plain http:// only to "
		       "a collector on this host (127.0.0.1, [::1], localhost); "
		       "use https://");
	if (cfg->backup.offsite_url && !cfg->backup.key_file)
		report(ld, FURROW_EINVAL, "backup.offsite.url", "needs "
		       "backup.key_file");
}

static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char cwd[LIMIT_PATH_BYTES];

	if (path[0] == '/')
		return slash == path ? xstrdup("/") :
		       xstrndup(path, (size_t)(slash - path));
	if (!getcwd(cwd, sizeof(cwd)))
		return xstrdup(".");
	if (!slash)
		return xstrdup(cwd);
	{
		struct strbuf sb = STRBUF_INIT;

		strbuf_addf(&sb, "%s/", cwd);
		strbuf_add(&sb, path, (size_t)(slash - path));
		return strbuf_detach(&sb, NULL);
	}
}

int config_load_text(struct config **out, const char *name, const char *text,
		     size_t len)
{
	static const struct sandbox_limits limits = {
		LIMIT_CONFIG_MEMORY_BYTES, LIMIT_CONFIG_INSTRUCTIONS,
		LIMIT_CONFIG_MILLISECONDS,
	};
	struct loader ld;
	struct value *root = NULL;
	int ret;

	*out = NULL;
	memset(&ld, 0, sizeof(ld));
	strbuf_init(&ld.errors, 0);
	ld.name = name;
	ld.text = text;
	ld.len = len;
	ld.dir = dir_of(name);
	ld.cfg = xcalloc(1, sizeof(*ld.cfg));
	ld.cfg->path = name[0] == '/' ? xstrdup(name) :
		       resolve_path(&ld, strrchr(name, '/') ?
				    strrchr(name, '/') + 1 : name);

	ret = sandbox_eval_isolated(&root, name, text, len, &limits);
	if (ret)
		goto out;
	if (root->type != VALUE_TABLE) {
		ret = error_set(FURROW_EINVAL, "%s: must return a table "
				"(return { host = { id = ... }, ... }), "
				"returned %s", name, value_type_name(root->type));
		goto out;
	}
	walk(&ld, root, "");
	apply_defaults(&ld);
	if (!ld.error_count)
		check_cross(&ld);
	if (ld.error_count) {
		if (ld.error_count > MAX_REPORTED_ERRORS)
			strbuf_addf(&ld.errors, "\n%s: %d more errors not shown",
				    name, ld.error_count - MAX_REPORTED_ERRORS);
		ret = error_set(ld.first_code, "%s", ld.errors.buf);
		goto out;
	}
	*out = ld.cfg;
	ld.cfg = NULL;
out:
	config_free(ld.cfg);
	value_free(root);
	free(ld.dir);
	strbuf_release(&ld.errors);
	return ret;
}

int config_load(struct config **out, const char *path)
{
	struct strbuf text = STRBUF_INIT;
	int ret;

	*out = NULL;
	ret = strbuf_read_file(&text, path, LIMIT_CONFIG_FILE_BYTES);
	if (ret == FURROW_ENOENT)
		ret = error_prefix(ret, "no agent config (use -c FILE or "
				   "FURROW_CONFIG)");
	if (!ret)
		ret = config_load_text(out, path, text.buf, text.len);
	strbuf_release(&text);
	return ret;
}

const char *config_choose_path(const char *explicit_path)
{
	const char *env = getenv("FURROW_CONFIG");

	if (explicit_path && *explicit_path)
		return explicit_path;
	if (env && *env)
		return env;
	return CONFIG_DEFAULT_PATH;
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < NFIELDS; i++) {
		const struct field *f = &fields[i];

		if (f->kind != K_SECONDS && f->kind != K_FRACTION &&
		    f->kind != K_COUNT &&
		    f->kind != K_BOOL && f->kind != K_LABELS &&
		    f->kind != K_LOG_FORMAT && f->kind != K_LOG_LEVEL)
			free(*(char **)((char *)cfg + f->offset));
	}
	for (size_t i = 0; i < cfg->label_count; i++) {
		free(cfg->labels[i].key);
		free(cfg->labels[i].value);
	}
	free(cfg->labels);
	free(cfg->path);
	free(cfg);
}

/*
 * The normalised form is built as a value tree, so that Lua and JSON
 * come out of the same data in the same (sorted) order.
 */
static struct value *table_at(struct value *root, const char *key)
{
	struct strbuf part = STRBUF_INIT;
	struct value *t = root;
	const char *p = key, *dot;

	while ((dot = strchr(p, '.'))) {
		struct value *next = NULL;

		strbuf_reset(&part);
		strbuf_add(&part, p, (size_t)(dot - p));
		for (size_t i = 0; i < t->u.table.count; i++)
			if (!strcmp(t->u.table.entries[i].key.u.string.ptr,
				    part.buf))
				next = &t->u.table.entries[i].val;
		if (!next) {
			next = value_table_add_str(t, part.buf, part.len);
			next->type = VALUE_TABLE;
		}
		t = next;
		p = dot + 1;
	}
	strbuf_release(&part);
	return t;
}

static void sort_all(struct value *v)
{
	if (v->type != VALUE_TABLE)
		return;
	value_sort(v);
	for (size_t i = 0; i < v->u.table.count; i++)
		sort_all(&v->u.table.entries[i].val);
}

static struct value *config_tree(const struct config *cfg)
{
	struct value *root = value_new(VALUE_TABLE);

	for (size_t i = 0; i < NFIELDS; i++) {
		const struct field *f = &fields[i];
		const char *leaf = strrchr(f->key, '.');
		struct value *t = table_at(root, f->key), *v;
		const char *s;

		leaf = leaf ? leaf + 1 : f->key;
		switch (f->kind) {
		case K_SECONDS:
		case K_COUNT:
		case K_FRACTION: {
			double d = *(const double *)((const char *)cfg + f->offset);

			v = value_table_add_str(t, leaf, strlen(leaf));
			if (d == floor(d) && fabs(d) < 1e15) {
				v->type = VALUE_INTEGER;
				v->u.integer = (long long)d;
			} else {
				v->type = VALUE_NUMBER;
				v->u.number = d;
			}
			break;
		}
		case K_BOOL:
			v = value_table_add_str(t, leaf, strlen(leaf));
			v->type = VALUE_BOOLEAN;
			v->u.boolean = *(const int *)((const char *)cfg + f->offset);
			break;
		case K_LABELS:
			v = value_table_add_str(t, leaf, strlen(leaf));
			v->type = VALUE_TABLE;
			for (size_t j = 0; j < cfg->label_count; j++)
				value_set_string(value_table_add_str(v,
					cfg->labels[j].key,
					strlen(cfg->labels[j].key)),
					cfg->labels[j].value,
					strlen(cfg->labels[j].value));
			break;
		case K_LOG_FORMAT:
			s = log_format_name(cfg->log.format);
			goto str;
		case K_LOG_LEVEL:
			s = log_level_name(cfg->log.level);
			goto str;
		default:
			s = *(char *const *)((const char *)cfg + f->offset);
		str:
			if (!s)
				break;
			v = value_table_add_str(t, leaf, strlen(leaf));
			value_set_string(v, s, strlen(s));
		}
	}
	sort_all(root);
	return root;
}

static void lua_string(struct strbuf *sb, const char *s, size_t len)
{
	/* Not JSON's escapes: Lua has no \u00XX.  Three-digit decimal
	 * escapes cannot run into a following digit. */
	strbuf_addch(sb, '"');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			strbuf_addf(sb, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			strbuf_addf(sb, "\\%03u", c);
		else
			strbuf_addch(sb, (char)c);
	}
	strbuf_addch(sb, '"');
}

static int lua_identifier(const char *s)
{
	static const char *const keywords[] = {
		"and", "break", "do", "else", "elseif", "end", "false", "for",
		"function", "goto", "if", "in", "local", "nil", "not", "or",
		"repeat", "return", "then", "true", "until", "while",
	};

	if (!*s || (*s >= '0' && *s <= '9'))
		return 0;
	for (size_t i = 0; i < sizeof(keywords) / sizeof(*keywords); i++)
		if (!strcmp(s, keywords[i]))
			return 0;
	for (; *s; s++)
		if (!is_word(*s))
			return 0;
	return 1;
}

static void format_lua(struct strbuf *sb, const struct value *v, int depth)
{
	switch (v->type) {
	case VALUE_BOOLEAN:
		strbuf_addstr(sb, v->u.boolean ? "true" : "false");
		return;
	case VALUE_INTEGER:
		strbuf_addf(sb, "%lld", v->u.integer);
		return;
	case VALUE_NUMBER:
		value_add_number(sb, v->u.number);
		return;
	case VALUE_STRING:
		lua_string(sb, v->u.string.ptr, v->u.string.len);
		return;
	case VALUE_NIL:
		strbuf_addstr(sb, "nil");
		return;
	case VALUE_TABLE:
		break;
	}
	if (!v->u.table.count) {
		strbuf_addstr(sb, "{}");
		return;
	}
	strbuf_addstr(sb, "{\n");
	for (size_t i = 0; i < v->u.table.count; i++) {
		const struct value_entry *e = &v->u.table.entries[i];

		for (int d = 0; d <= depth; d++)
			strbuf_addstr(sb, "  ");
		if (lua_identifier(e->key.u.string.ptr)) {
			strbuf_addstr(sb, e->key.u.string.ptr);
		} else {
			strbuf_addch(sb, '[');
			lua_string(sb, e->key.u.string.ptr, e->key.u.string.len);
			strbuf_addch(sb, ']');
		}
		strbuf_addstr(sb, " = ");
		format_lua(sb, &e->val, depth + 1);
		strbuf_addstr(sb, ",\n");
	}
	for (int d = 0; d < depth; d++)
		strbuf_addstr(sb, "  ");
	strbuf_addch(sb, '}');
}

void config_format_lua(struct strbuf *sb, const struct config *cfg)
{
	struct value *tree = config_tree(cfg);

	strbuf_addf(sb, "-- normalised from %s\nreturn ", cfg->path);
	format_lua(sb, tree, 0);
	strbuf_addch(sb, '\n');
	value_free(tree);
}

void config_format_json(struct strbuf *sb, const struct config *cfg)
{
	struct value *tree = config_tree(cfg);

	value_to_json(sb, tree, 2);
	strbuf_addch(sb, '\n');
	value_free(tree);
}
