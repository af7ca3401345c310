/*
 * valuecodec.h - value trees as bytes, for handing results from a child
 * process to its parent over a pipe.
 *
 * The parent treats the bytes as hostile (the child evaluated untrusted
 * input), so the decoder is bounded like every other parser: total size,
 * depth, node count, string sizes, key types, and table keys must arrive
 * strictly sorted (as value_sort() leaves them), so no duplicates.
 *
 * Frame: "FRW1", then a status byte: 'V' + one encoded value, or 'E' +
 * int32 code + u32 length + message.  Values: 'n' nil, 't'/'f' boolean,
 * 'i' int64, 'd' double (both little-endian), 's' u32 length + bytes,
 * 'T' u32 count + count × (key, value).
 */
#ifndef FURROW_VALUECODEC_H
#define FURROW_VALUECODEC_H

#include <stddef.h>

#include "strbuf.h"
#include "value.h"

/* Append a success frame holding v. */
void valuecodec_encode(struct strbuf *out, const struct value *v);

/* Append an error frame: code (negative FURROW_E*) and message. */
void valuecodec_encode_error(struct strbuf *out, int code, const char *msg);

/*
 * Decode one frame of exactly len bytes.  A success frame gives *out (the
 * caller frees it with value_free()) and returns 0.  An error frame
 * records its message and returns its code (always negative; a code that
 * is not a known FURROW_E* becomes FURROW_ERR).  Malformed input is
 * FURROW_ESYNTAX and over-limit input FURROW_ELIMIT, named by what.
 */
int valuecodec_decode(struct value **out, const char *what, const void *buf,
		      size_t len);

#endif
