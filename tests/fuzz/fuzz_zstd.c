/*
 * fuzz_zstd.c - libFuzzer target: the input is a zstd frame, decoded with
 * a 64 KiB limit.  Whatever decodes fits the limit, leaves what out held
 * in front, and survives a round trip through compress_zstd(); whatever
 * is refused is FURROW_ESYNTAX or FURROW_ELIMIT with a message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bug.h"
#include "compress.h"
#include "error.h"
#include "strbuf.h"

#define MAX_OUT (64u * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct strbuf out = STRBUF_INIT, z = STRBUF_INIT, again = STRBUF_INIT;
	int rc;

	strbuf_addstr(&out, "pre");
	error_clear();
	rc = decompress_zstd(&out, data, size, MAX_OUT);
	if (memcmp(out.buf, "pre", 3))
		BUG("decompress_zstd changed what out held");
	if (rc) {
		if (rc != FURROW_ESYNTAX && rc != FURROW_ELIMIT)
			BUG("unexpected code %d", rc);
		if (!error_message()[0] || out.len != 3)
			BUG("refusal without message or with output");
	} else {
		if (out.len - 3 > MAX_OUT)
			BUG("decoded %zu bytes past the limit", out.len - 3);
		if (compress_zstd(&z, out.buf + 3, out.len - 3, 1) ||
		    decompress_zstd(&again, z.buf, z.len, out.len - 3) ||
		    again.len != out.len - 3 ||
		    memcmp(again.buf, out.buf + 3, again.len))
			BUG("round trip of %zu decoded bytes failed", out.len - 3);
	}
	strbuf_release(&out);
	strbuf_release(&z);
	strbuf_release(&again);
	return 0;
}
