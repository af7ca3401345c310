/*
 * commitsig.h - the signature inside a raw Git commit object, split out
 * exactly as git's parse_buffer_signed_by_header() does for a SHA-1
 * repository (commit.c), so that furrow verifies the same bytes
 * `git verify-commit` does:
 *
 *  - only the header (up to the first empty line) is looked at;
 *  - the "gpgsig" header and its continuation lines (leading space) are
 *    the signature: each line's text after the header name or the leading
 *    space, '\n'-terminated;
 *  - every other "gpgsig*" header (gpgsig-sha256, for the other hash) is
 *    dropped with its continuation lines;
 *  - everything else, the message included, is the signed payload.
 */
#ifndef FURROW_COMMITSIG_H
#define FURROW_COMMITSIG_H

#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

/*
 * Split raw (a commit object's content, len bytes) into the signed
 * payload and the armored signature, both appended to the strbufs.
 * Returns 0; FURROW_ENOENT "commit is not signed" if there is no gpgsig
 * header; FURROW_ELIMIT if raw is over LIMIT_SIGNED_COMMIT_BYTES.
 */
int commitsig_split(struct strbuf *payload, struct strbuf *signature,
		    const char *raw, size_t len);

/*
 * The committer time (unix seconds) from the header's "committer" line
 * ("committer NAME <EMAIL> SECONDS +ZZZZ").  Returns 0, or
 * FURROW_ESYNTAX if there is no such line or the time is malformed.
 */
int commitsig_committer_time(int64_t *out, const char *raw, size_t len);

#endif
