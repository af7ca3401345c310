/*
 * bundle.c - see bundle.h.  Input is untrusted: every line is checked
 * against the buffer's end, and counts against core/limits.h.
 */
#include <stdlib.h>
#include <string.h>

#include "bug.h"
#include "bundle.h"
#include "error.h"
#include "limits.h"
#include "banned.h"

static int is_oid(const char *s, size_t len)
{
	if (len != BUNDLE_OID_HEX)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* Ref names are later shown in messages and compared with configured
 * refs, so hold them to a conservative subset of git's rules. */
static int is_refname(const char *s, size_t len)
{
	if (!len || len > LIMIT_GIT_REF_BYTES)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= ' ' || c == 0x7f || c == '\\' || c == '~' || c == '^' ||
		    c == ':' || c == '?' || c == '*' || c == '[')
			return 0;
	}
	return 1;
}

void bundle_header_release(struct bundle_header *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->ref_count; i++)
		free(h->refs[i].name);
	free(h->refs);
	free(h->prereqs);
	memset(h, 0, sizeof(*h));
}

const struct bundle_ref *bundle_header_find(const struct bundle_header *h,
					    const char *name)
{
	for (size_t i = 0; i < h->ref_count; i++)
		if (!strcmp(h->refs[i].name, name))
			return &h->refs[i];
	return NULL;
}

static int capability(const char *s, size_t len)
{
	static const char sha1[] = "object-format=sha1";

	if (len == sizeof(sha1) - 1 && !memcmp(s, sha1, len))
		return 0;
	if (len >= 6 && !memcmp(s, "filter", 6))
		return error_set(FURROW_EINVAL,
				 "bundle: filtered (partial) bundles are not supported");
	if (len >= 14 && !memcmp(s, "object-format=", 14))
		return error_set(FURROW_EINVAL,
				 "bundle: only SHA-1 object format is supported");
	return error_set(FURROW_EINVAL, "bundle: unknown capability");
}

int bundle_header_parse(struct bundle_header *out, const char *buf, size_t len)
{
	static const char v2[] = "# v2 git bundle\n", v3[] = "# v3 git bundle\n";
	size_t pos, alloc_refs = 0, alloc_pre = 0;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (len > LIMIT_BUNDLE_HEADER_BYTES)
		len = LIMIT_BUNDLE_HEADER_BYTES;
	if (len >= sizeof(v2) - 1 && !memcmp(buf, v2, sizeof(v2) - 1))
		out->version = 2;
	else if (len >= sizeof(v3) - 1 && !memcmp(buf, v3, sizeof(v3) - 1))
		out->version = 3;
	else if (len >= 2 && buf[0] == '#' && buf[1] == ' ' &&
		 memmem(buf, len < 32 ? len : 32, "git bundle", 10))
		return error_set(FURROW_EINVAL, "bundle: unsupported version");
	else
		return error_set(FURROW_ESYNTAX, "not a git bundle");
	pos = sizeof(v2) - 1;

	for (;;) {
		const char *line = buf + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t n;

		if (!nl) {
			rc = len == LIMIT_BUNDLE_HEADER_BYTES
				? error_set(FURROW_ELIMIT,
					    "bundle header exceeds LIMIT_BUNDLE_HEADER_BYTES (%u)",
					    (unsigned)LIMIT_BUNDLE_HEADER_BYTES)
				: error_set(FURROW_ESYNTAX, "bundle header is cut short");
			goto out;
		}
		n = (size_t)(nl - line);
		pos += n + 1;
		if (!n)
			break;
		if (line[0] == '@') {
			if (out->version < 3 || out->ref_count || out->prereq_count) {
				rc = error_set(FURROW_ESYNTAX,
					       "bundle: capability out of place");
				goto out;
			}
			if ((rc = capability(line + 1, n - 1)) < 0)
				goto out;
		} else if (line[0] == '-') {
			/* "-<oid>" optionally followed by " comment". */
			if (n < 1 + BUNDLE_OID_HEX || !is_oid(line + 1, BUNDLE_OID_HEX) ||
			    (n > 1 + BUNDLE_OID_HEX && line[1 + BUNDLE_OID_HEX] != ' ')) {
				rc = error_set(FURROW_ESYNTAX,
					       "bundle: malformed prerequisite line");
				goto out;
			}
			if (out->prereq_count >= LIMIT_BUNDLE_PREREQS) {
				rc = error_set(FURROW_ELIMIT,
					       "bundle has more than LIMIT_BUNDLE_PREREQS (%u) prerequisites",
					       LIMIT_BUNDLE_PREREQS);
				goto out;
			}
			if (out->prereq_count == alloc_pre) {
				alloc_pre = alloc_pre ? alloc_pre * 2 : 8;
				out->prereqs = xrealloc(out->prereqs,
							alloc_pre * sizeof(*out->prereqs));
			}
			memcpy(out->prereqs[out->prereq_count], line + 1, BUNDLE_OID_HEX);
			out->prereqs[out->prereq_count++][BUNDLE_OID_HEX] = '\0';
		} else {
			struct bundle_ref *r;

			if (n < BUNDLE_OID_HEX + 2 || !is_oid(line, BUNDLE_OID_HEX) ||
			    line[BUNDLE_OID_HEX] != ' ' ||
			    !is_refname(line + BUNDLE_OID_HEX + 1,
					n - BUNDLE_OID_HEX - 1)) {
				rc = error_set(FURROW_ESYNTAX,
					       "bundle: malformed reference line");
				goto out;
			}
			if (out->ref_count >= LIMIT_BUNDLE_REFS) {
				rc = error_set(FURROW_ELIMIT,
					       "bundle has more than LIMIT_BUNDLE_REFS (%u) references",
					       LIMIT_BUNDLE_REFS);
				goto out;
			}
			if (out->ref_count == alloc_refs) {
				alloc_refs = alloc_refs ? alloc_refs * 2 : 8;
				out->refs = xrealloc(out->refs,
						     alloc_refs * sizeof(*out->refs));
			}
			r = &out->refs[out->ref_count++];
			memcpy(r->oid, line, BUNDLE_OID_HEX);
			r->oid[BUNDLE_OID_HEX] = '\0';
			r->name = xstrndup(line + BUNDLE_OID_HEX + 1,
					   n - BUNDLE_OID_HEX - 1);
		}
	}
	if (!out->ref_count) {
		rc = error_set(FURROW_ESYNTAX, "bundle carries no references");
		goto out;
	}
	out->pack_offset = pos;
out:
	if (rc < 0)
		bundle_header_release(out);
	return rc;
}
