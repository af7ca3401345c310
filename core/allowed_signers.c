/*
 * allowed_signers.c - see allowed_signers.h.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "allowed_signers.h"
#include "bug.h"
#include "error.h"
#include "limits.h"
#include "sshsig.h"
#include "sshwire.h"
#include "strbuf.h"
#include "banned.h"

/* OpenSSH's match.c caps one sub-pattern at 1023 bytes: longer ones
 * never match.  Keep that, so furrow never matches where it does not. */
#define SUBPATTERN_MAX 1023

/*
 * Glob match of s (slen bytes) against pattern p (plen bytes) with `*`
 * and `?`.  Iterative with one backtrack point, so hostile patterns cost
 * O(slen * plen) at worst instead of OpenSSH's recursion.
 */
static int match_pattern(const char *s, size_t slen, const char *p,
			 size_t plen)
{
	size_t si = 0, pi = 0, star_p = SIZE_MAX, star_s = 0;

	while (si < slen) {
		if (pi < plen && (p[pi] == '?' || p[pi] == s[si])) {
			si++;
			pi++;
		} else if (pi < plen && p[pi] == '*') {
			star_p = pi++;
			star_s = si;
		} else if (star_p != SIZE_MAX) {
			pi = star_p + 1;
			si = ++star_s;
		} else {
			return 0;
		}
	}
	while (pi < plen && p[pi] == '*')
		pi++;
	return pi == plen;
}

int allowed_signers_match_list(const char *s, const char *list)
{
	size_t slen = strlen(s), i = 0, len = strlen(list);
	int got_positive = 0;

	while (i < len) {
		int negated = 0;
		size_t start, n;

		if (list[i] == '!') {
			negated = 1;
			i++;
		}
		start = i;
		while (i < len && list[i] != ',')
			i++;
		n = i - start;
		if (n >= SUBPATTERN_MAX)
			return 0;
		if (i < len)
			i++; /* the comma */
		if (match_pattern(s, slen, list + start, n)) {
			if (negated)
				return -1;
			got_positive = 1;
		}
	}
	return got_positive;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static const char *skip_space(const char *p, const char *end)
{
	while (p < end && is_space(*p))
		p++;
	return p;
}

static int all_digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

static int num(const char *s, size_t n)
{
	int v = 0;

	while (n--)
		v = v * 10 + (*s++ - '0');
	return v;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static long long days_from_civil(int y, int m, int d)
{
	long long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* YYYYMMDD[HHMM[SS]] with an optional Z or UTC suffix, read as UTC. */
static int parse_time(long long *out, const char *s)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
				     30, 31 };
	size_t l = strlen(s);
	int y, mo, d, h = 0, mi = 0, sec = 0, leap;

	if (l > 1 && (s[l - 1] == 'Z' || s[l - 1] == 'z'))
		l--;
	else if (l > 3 && strcasecmp(s + l - 3, "UTC") == 0)
		l -= 3;
	if ((l != 8 && l != 12 && l != 14) || !all_digits(s, l))
		return -1;
	y = num(s, 4);
	mo = num(s + 4, 2);
	d = num(s + 6, 2);
	if (l >= 12) {
		h = num(s + 8, 2);
		mi = num(s + 10, 2);
	}
	if (l == 14)
		sec = num(s + 12, 2);
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
	    (mo == 2 && d == 29 && !leap) || h > 23 || mi > 59 || sec > 59)
		return -1;
	*out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
	/* OpenSSH treats 0 as "no bound", so it cannot be a bound. */
	return *out > 0 ? 0 : -1;
}

/*
 * OpenSSH's opt_dequote(): a "quoted" value where \" stands for a quote.
 * *p is advanced past the closing quote.  Returns a new string or NULL.
 */
static char *dequote(const char **p, const char *end, const char **why)
{
	struct strbuf sb = STRBUF_INIT;
	const char *s = *p;

	if (s >= end || *s != '"') {
		*why = "missing start quote";
		return NULL;
	}
	for (s++; s < end; s++) {
		if (*s == '\\' && s + 1 < end && s[1] == '"')
			s++;
		else if (*s == '"')
			break;
		strbuf_addch(&sb, *s);
	}
	if (s >= end) {
		strbuf_release(&sb);
		*why = "missing end quote";
		return NULL;
	}
	*p = s + 1;
	return strbuf_detach(&sb, NULL);
}

static int opt_match(const char **p, const char *end, const char *name)
{
	size_t n = strlen(name);

	if ((size_t)(end - *p) > n && strncasecmp(*p, name, n) == 0 &&
	    (*p)[n] == '=') {
		*p += n + 1;
		return 1;
	}
	return 0;
}

static int is_option_token(const char *p, const char *end)
{
	static const char *const names[] = { "cert-authority", "namespaces=",
					     "valid-after=", "valid-before=" };
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t n = strlen(names[i]);

		if ((size_t)(end - p) >= n && strncasecmp(p, names[i], n) == 0)
			return 1;
	}
	return 0;
}

static int parse_time_option(long long *t, const char *name, const char **p,
			     const char *end)
{
	const char *why = NULL;
	char *v;
	int rc = 0;

	if (*t)
		return error_set(FURROW_ESYNTAX, "multiple \"%s\" clauses", name);
	if (!(v = dequote(p, end, &why)))
		return error_set(FURROW_ESYNTAX, "bad \"%s\" value: %s", name,
				 why);
	if (parse_time(t, v) < 0)
		rc = error_set(FURROW_ESYNTAX, "invalid \"%s\" time (want "
			       "YYYYMMDD[HHMM[SS]][Z])", name);
	free(v);
	return rc;
}

/* Parse the options token [p, end); errors are recorded by the caller's
 * prefix with file and line. */
static int parse_options(struct allowed_signer *e, const char *p,
			 const char *end)
{
	const char *why = NULL;

	while (p < end) {
		if ((size_t)(end - p) >= 14 &&
		    strncasecmp(p, "cert-authority", 14) == 0 &&
		    (p + 14 == end || p[14] == ',')) {
			return error_set(FURROW_EINVAL, "cert-authority entries "
					 "are not supported");
		} else if (opt_match(&p, end, "namespaces")) {
			if (e->namespaces)
				return error_set(FURROW_ESYNTAX, "multiple "
						 "\"namespaces\" clauses");
			if (!(e->namespaces = dequote(&p, end, &why)))
				goto bad;
		} else if (opt_match(&p, end, "valid-after")) {
			if (parse_time_option(&e->valid_after, "valid-after",
					      &p, end) < 0)
				return FURROW_ESYNTAX;
		} else if (opt_match(&p, end, "valid-before")) {
			if (parse_time_option(&e->valid_before, "valid-before",
					      &p, end) < 0)
				return FURROW_ESYNTAX;
		} else {
			return error_set(FURROW_ESYNTAX, "unknown option");
		}
		if (p == end)
			break;
		if (*p != ',')
			return error_set(FURROW_ESYNTAX, "unknown option");
		if (++p == end)
			return error_set(FURROW_ESYNTAX, "unexpected end of "
					 "options");
	}
	if (e->valid_after && e->valid_before &&
	    e->valid_before <= e->valid_after)
		return error_set(FURROW_ESYNTAX, "\"valid-before\" time is "
				 "before \"valid-after\"");
	return 0;
bad:
	return error_set(FURROW_ESYNTAX, "bad option value: %s", why);
}

/* One token: a "quoted" run (quotes dropped) or a run of non-space.  A
 * quote inside an unquoted token is refused rather than guessed at. */
static int next_token(const char **tok, size_t *toklen, const char **p,
		      const char *end)
{
	const char *s = *p, *q;

	if (s < end && *s == '"') {
		for (q = s + 1; q < end && *q != '"'; q++)
			;
		if (q == end)
			return error_set(FURROW_ESYNTAX, "missing end quote");
		*tok = s + 1;
		*toklen = (size_t)(q - s - 1);
		*p = q + 1;
		return 0;
	}
	for (q = s; q < end && !is_space(*q); q++)
		if (*q == '"')
			return error_set(FURROW_ESYNTAX, "unexpected quote");
	*tok = s;
	*toklen = (size_t)(q - s);
	*p = q;
	return 0;
}

/* The options token ends at the first space outside quotes. */
static const char *options_end(const char *p, const char *end)
{
	int quoted = 0;

	for (; p < end; p++) {
		if (*p == '"')
			quoted = !quoted;
		else if (*p == '\\' && quoted && p + 1 < end)
			p++;
		else if (is_space(*p) && !quoted)
			break;
	}
	return p;
}

static int parse_key(struct allowed_signer *e, const char *p,
		     const char *end)
{
	struct strbuf blob = STRBUF_INIT;
	struct sshkey_pub pub;
	const char *type, *b64;
	size_t tlen, blen;
	int rc;

	type = p;
	while (p < end && !is_space(*p))
		p++;
	tlen = (size_t)(p - type);
	if ((rc = sshkey_type_check(type, tlen)) < 0)
		goto out;
	p = skip_space(p, end);
	b64 = p;
	while (p < end && !is_space(*p))
		p++;
	blen = (size_t)(p - b64);
	if (!blen) {
		rc = error_set(FURROW_ESYNTAX, "missing key");
		goto out;
	}
	if ((rc = sshwire_base64_decode(&blob, b64, blen,
					LIMIT_SSH_KEY_BLOB_BYTES)) < 0 ||
	    (rc = sshkey_pub_parse(&pub, blob.buf, blob.len)) < 0) {
		error_prefix(rc, "invalid key");
		goto out;
	}
	if (strlen(pub.type) != tlen || memcmp(pub.type, type, tlen) != 0) {
		rc = error_set(FURROW_ESYNTAX, "key is a %s key, but the line "
			       "says %.*s", pub.type, (int)tlen, type);
		goto out;
	}
	e->key_type = pub.type;
	e->key_len = blob.len;
	e->key = (unsigned char *)strbuf_detach(&blob, NULL);
	/* The rest of the line is a comment. */
out:
	strbuf_release(&blob);
	return rc;
}

static void entry_release(struct allowed_signer *e)
{
	free(e->principals);
	free(e->namespaces);
	free(e->key);
	memset(e, 0, sizeof(*e));
}

/* Parse one non-blank, non-comment line [p, end) into e. */
static int parse_line(struct allowed_signer *e, const char *p,
		      const char *end)
{
	const char *tok = NULL, *oend;
	size_t toklen = 0;
	int rc;

	if ((rc = next_token(&tok, &toklen, &p, end)) < 0)
		return rc;
	if (!toklen)
		return error_set(FURROW_ESYNTAX, "empty principals");
	e->principals = xstrndup(tok, toklen);
	p = skip_space(p, end);
	if (p == end)
		return error_set(FURROW_ESYNTAX, "missing key");
	if (is_option_token(p, end)) {
		oend = options_end(p, end);
		if ((rc = parse_options(e, p, oend)) < 0)
			return rc;
		p = skip_space(oend, end);
	}
	return parse_key(e, p, end);
}

int allowed_signers_parse(struct allowed_signers **out, const char *name,
			  const char *text, size_t len)
{
	struct allowed_signers *as = xcalloc(1, sizeof(*as));
	const char *p = text, *end = text + len, *eol, *q;
	size_t alloc = 0;
	unsigned line = 0;
	int rc = 0;

	*out = NULL;
	as->name = xstrdup(name);
	if (len > LIMIT_ALLOWED_SIGNERS_BYTES) {
		rc = error_set(FURROW_ELIMIT, "%s: %zu bytes is over the limit "
			       "of %u (LIMIT_ALLOWED_SIGNERS_BYTES)", name, len,
			       LIMIT_ALLOWED_SIGNERS_BYTES);
		goto out;
	}
	for (; p < end; p = eol + (eol < end)) {
		struct allowed_signer e;

		line++;
		eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			eol = end;
		if ((size_t)(eol - p) > LIMIT_ALLOWED_SIGNERS_LINE) {
			rc = error_set(FURROW_ELIMIT, "%s:%u: line is over the "
				       "limit of %u bytes", name, line,
				       LIMIT_ALLOWED_SIGNERS_LINE);
			goto out;
		}
		if (memchr(p, '\0', (size_t)(eol - p))) {
			rc = error_set(FURROW_ESYNTAX, "%s:%u: NUL byte in "
				       "line", name, line);
			goto out;
		}
		q = skip_space(p, eol);
		if (q == eol || *q == '#')
			continue;
		if (as->n == LIMIT_ALLOWED_SIGNERS_ENTRIES) {
			rc = error_set(FURROW_ELIMIT, "%s:%u: more than %u "
				       "entries", name, line,
				       LIMIT_ALLOWED_SIGNERS_ENTRIES);
			goto out;
		}
		memset(&e, 0, sizeof(e));
		e.line = line;
		if ((rc = parse_line(&e, q, eol)) < 0) {
			entry_release(&e);
			error_prefix(rc, "%s:%u", name, line);
			goto out;
		}
		if (as->n == alloc) {
			alloc = alloc ? alloc * 2 : 8;
			as->v = xrealloc(as->v, alloc * sizeof(*as->v));
		}
		as->v[as->n++] = e;
	}
	*out = as;
	as = NULL;
out:
	allowed_signers_free(as);
	return rc;
}

int allowed_signers_load(struct allowed_signers **out, const char *path)
{
	struct strbuf sb = STRBUF_INIT;
	int rc;

	*out = NULL;
	if ((rc = strbuf_read_file(&sb, path, LIMIT_ALLOWED_SIGNERS_BYTES)) < 0)
		goto out;
	rc = allowed_signers_parse(out, path, sb.buf, sb.len);
out:
	strbuf_release(&sb);
	return rc;
}

void allowed_signers_free(struct allowed_signers *as)
{
	size_t i;

	if (!as)
		return;
	for (i = 0; i < as->n; i++)
		entry_release(&as->v[i]);
	free(as->v);
	free(as->name);
	free(as);
}

static const char *fmt_time(char *buf, size_t size, long long t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) ||
	    !strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(buf, size, "%lld", t);
	return buf;
}

/* 0 if e is valid at when, -1 if not yet, 1 if expired. */
static int time_state(const struct allowed_signer *e, long long when)
{
	if (e->valid_after && when < e->valid_after)
		return -1;
	if (e->valid_before && when > e->valid_before)
		return 1;
	return 0;
}

static int time_error(const struct allowed_signers *as,
		      const struct allowed_signer *e, long long when)
{
	char a[40], b[40];

	if (time_state(e, when) < 0)
		return error_set(FURROW_EVERIFY, "key is not yet valid: %s is "
				 "before valid-after %s (%s:%u)",
				 fmt_time(a, sizeof(a), when),
				 fmt_time(b, sizeof(b), e->valid_after),
				 as->name, e->line);
	return error_set(FURROW_EVERIFY, "key has expired: %s is after "
			 "valid-before %s (%s:%u)", fmt_time(a, sizeof(a), when),
			 fmt_time(b, sizeof(b), e->valid_before), as->name,
			 e->line);
}

static int same_key(const struct allowed_signer *e, const void *key,
		    size_t len)
{
	return e->key_len == len && memcmp(e->key, key, len) == 0;
}

/* Does some principal of first (comma-separated, as find-principals
 * prints them) match e's principal patterns? */
static int principal_matches(const struct allowed_signer *first,
			     const struct allowed_signer *e)
{
	const char *p = first->principals, *comma;
	char buf[SUBPATTERN_MAX + 1];
	size_t n;

	for (; *p; p = comma + (*comma == ',')) {
		comma = strchrnul(p, ',');
		n = (size_t)(comma - p);
		if (!n || n >= sizeof(buf))
			continue;
		memcpy(buf, p, n);
		buf[n] = '\0';
		if (allowed_signers_match_list(buf, e->principals) == 1)
			return 1;
	}
	return 0;
}

int allowed_signers_find(const struct allowed_signer **out,
			 const struct allowed_signers *as, const void *key,
			 size_t key_len, const char *ns, time_t when)
{
	const struct allowed_signer *first = NULL, *listed = NULL, *e;
	const struct allowed_signer *bad_ns = NULL, *bad_time = NULL;
	size_t i;

	*out = NULL;
	/* find-principals: the first entry with the key, valid then. */
	for (i = 0; i < as->n && !first; i++) {
		e = &as->v[i];
		if (!same_key(e, key, key_len))
			continue;
		if (!listed)
			listed = e;
		if (time_state(e, (long long)when) == 0)
			first = e;
	}
	if (!listed)
		return error_set(FURROW_EVERIFY, "key is not in %s", as->name);
	if (!first)
		return time_error(as, listed, (long long)when);
	/* verify -I principal -n ns: any entry with the key whose principal
	 * patterns match, that allows ns and is valid then. */
	for (i = 0; i < as->n; i++) {
		e = &as->v[i];
		if (!same_key(e, key, key_len) || !principal_matches(first, e))
			continue;
		if (e->namespaces &&
		    allowed_signers_match_list(ns, e->namespaces) != 1) {
			if (!bad_ns)
				bad_ns = e;
			continue;
		}
		if (time_state(e, (long long)when) != 0) {
			if (!bad_time)
				bad_time = e;
			continue;
		}
		*out = e;
		return 0;
	}
	if (bad_ns)
		return error_set(FURROW_EVERIFY, "key is not allowed for "
				 "namespace \"%s\" (%s:%u allows only \"%s\")",
				 ns, as->name, bad_ns->line, bad_ns->namespaces);
	if (bad_time)
		return time_error(as, bad_time, (long long)when);
	/* Only patterns such as "!name" get here: git's find-principals
	 * output would not match its own line either. */
	return error_set(FURROW_EVERIFY, "no principal of %s:%u matches its "
			 "own patterns", as->name, first->line);
}
