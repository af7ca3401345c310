/*
 * bundle.h - the header of a `git bundle` file (v2 and v3), parsed
 * without libgit2, which cannot read bundles.
 *
 *   # v2 git bundle            or   # v3 git bundle
 *                                   @object-format=sha1   (capabilities)
 *   -<oid> [comment]           prerequisites: commits the reader must have
 *   <oid> <refname>            references the bundle carries
 *   <blank line>
 *   PACK...                    a packfile (thin when there are prerequisites)
 *
 * Only SHA-1 bundles without a filter are accepted.
 */
#ifndef FURROW_BUNDLE_H
#define FURROW_BUNDLE_H

#include <stddef.h>

#define BUNDLE_OID_HEX 40

struct bundle_ref {
	char oid[BUNDLE_OID_HEX + 1];
	char *name; /* owned by the header */
};

struct bundle_header {
	int version;                              /* 2 or 3 */
	char (*prereqs)[BUNDLE_OID_HEX + 1];      /* prereq_count oids */
	size_t prereq_count;
	struct bundle_ref *refs;
	size_t ref_count;
	size_t pack_offset; /* where the packfile starts in the file */
};

/*
 * Parse the header from buf, the first len bytes of a bundle file (read
 * at most LIMIT_BUNDLE_HEADER_BYTES; pass what was read).  On success
 * fills *out (release with bundle_header_release()) and returns 0.  On
 * failure returns FURROW_ESYNTAX (not a bundle, malformed line, header cut
 * short), FURROW_EINVAL (unsupported version, hash or filter) or
 * FURROW_ELIMIT (header, ref or prerequisite count over its limit), with
 * the message recorded; *out is then empty.
 */
int bundle_header_parse(struct bundle_header *out, const char *buf, size_t len);

/* Free what bundle_header_parse() allocated; accepts NULL and a zeroed
 * header; the header is zeroed again. */
void bundle_header_release(struct bundle_header *h);

/* The ref named name in h, or NULL. */
const struct bundle_ref *bundle_header_find(const struct bundle_header *h,
					    const char *name);

#endif
