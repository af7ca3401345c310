/*
 * commitsig.c - see commitsig.h.
 */
#include <stdint.h>
#include <string.h>

#include "commitsig.h"
#include "error.h"
#include "limits.h"
#include "banned.h"

static int starts_with(const char *p, const char *end, const char *prefix)
{
	size_t n = strlen(prefix);

	return (size_t)(end - p) >= n && memcmp(p, prefix, n) == 0;
}

int commitsig_split(struct strbuf *payload, struct strbuf *signature,
		    const char *raw, size_t len)
{
	static const char header[] = "gpgsig ";
	const char *line = raw, *tail = raw + len, *next, *sig;
	int in_signature = 0, saw_signature = 0, other_signature = 0;

	if (len > LIMIT_SIGNED_COMMIT_BYTES)
		return error_set(FURROW_ELIMIT, "commit of %zu bytes is over "
				 "the limit of %u (LIMIT_SIGNED_COMMIT_BYTES)",
				 len, LIMIT_SIGNED_COMMIT_BYTES);
	/* Line by line, as git does; the comments name git's cases. */
	while (line < tail) {
		next = memchr(line, '\n', (size_t)(tail - line));
		next = next ? next + 1 : tail;
		sig = NULL;
		if (in_signature && line[0] == ' ') {
			sig = line + 1; /* continuation of our signature */
		} else if (starts_with(line, tail, header)) {
			sig = line + sizeof(header) - 1;
			other_signature = 0;
		} else if (starts_with(line, tail, "gpgsig")) {
			other_signature = 1; /* gpgsig-sha256 and kin */
		} else if (other_signature && line[0] != ' ') {
			other_signature = 0;
		}
		if (sig) {
			strbuf_add(signature, sig, (size_t)(next - sig));
			saw_signature = 1;
			in_signature = 1;
		} else {
			/* The empty line ends the header: the rest is the
			 * message, taken whole. */
			if (line[0] == '\n')
				next = tail;
			if (!other_signature)
				strbuf_add(payload, line, (size_t)(next - line));
			in_signature = 0;
		}
		line = next;
	}
	if (!saw_signature)
		return error_set(FURROW_ENOENT, "commit is not signed");
	return 0;
}

int commitsig_committer_time(int64_t *out, const char *raw, size_t len)
{
	const char *line = raw, *tail = raw + len, *eol, *p, *gt = NULL;
	int64_t t = 0;
	int digits = 0;

	*out = 0;
	for (; line < tail && line[0] != '\n'; line = eol + (eol < tail)) {
		eol = memchr(line, '\n', (size_t)(tail - line));
		if (!eol)
			eol = tail;
		if (!starts_with(line, eol, "committer "))
			continue;
		/* The time follows the last '>', as in git's ident parser. */
		for (p = line; p < eol; p++)
			if (*p == '>')
				gt = p;
		if (!gt)
			break;
		for (p = gt + 1; p < eol && *p == ' '; p++)
			;
		for (; p < eol && *p >= '0' && *p <= '9'; p++) {
			/* 18 digits cannot overflow int64_t. */
			if (++digits > 18)
				return error_set(FURROW_ESYNTAX, "committer "
						 "time is out of range");
			t = t * 10 + (*p - '0');
		}
		if (!digits || (p < eol && *p != ' '))
			break;
		*out = t;
		return 0;
	}
	return error_set(FURROW_ESYNTAX, "commit has no valid committer line");
}
