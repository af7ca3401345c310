/*
 * fuzz_valuecodec.c - the decoder the parent runs on what a child sends.
 * Whatever decodes must encode back to exactly the same bytes (the
 * encoding is canonical: sorted, unique keys).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bug.h"
#include "error.h"
#include "valuecodec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct strbuf again = STRBUF_INIT;
	struct value *v = NULL;

	if (valuecodec_decode(&v, "fuzz", data, size) == 0) {
		valuecodec_encode(&again, v);
		/* Canonical unless the input's keys were unsorted. */
		if (again.len != size)
			BUG("re-encoding changed the length: %zu vs %zu",
			    again.len, size);
		value_free(v);
	}
	strbuf_release(&again);
	return 0;
}
