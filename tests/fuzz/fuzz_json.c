/*
 * fuzz_json.c - libFuzzer target: json_parse() with a 1 MiB cap; what
 * parses must print with value_to_json() and parse back to an equal tree.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "json.h"
#include "strbuf.h"
#include "value.h"

#define MAX_BYTES (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int value_equal(const struct value *a, const struct value *b)
{
	size_t i;

	if (a->type != b->type)
		return 0;
	switch (a->type) {
	case VALUE_NIL: return 1;
	case VALUE_BOOLEAN: return !a->u.boolean == !b->u.boolean;
	case VALUE_INTEGER: return a->u.integer == b->u.integer;
	case VALUE_NUMBER: return a->u.number == b->u.number;
	case VALUE_STRING:
		return a->u.string.len == b->u.string.len &&
		       !memcmp(a->u.string.ptr, b->u.string.ptr, a->u.string.len);
	case VALUE_TABLE:
		if (a->u.table.count != b->u.table.count)
			return 0;
		for (i = 0; i < a->u.table.count; i++)
			if (!value_equal(&a->u.table.entries[i].key,
					 &b->u.table.entries[i].key) ||
			    !value_equal(&a->u.table.entries[i].val,
					 &b->u.table.entries[i].val))
				return 0;
		return 1;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct strbuf sb = STRBUF_INIT;
	struct value *v = NULL, *back = NULL;
	int indent;

	if (json_parse(&v, "fuzz.json", (const char *)data, size, MAX_BYTES)) {
		if (v || !error_message()[0])
			abort();
		return 0;
	}
	/* Alternate compact and indented output. */
	indent = size % 2 ? 2 : 0;
	value_to_json(&sb, v, indent);
	if (json_parse(&back, "again.json", sb.buf, sb.len, 4 * MAX_BYTES + 64)) {
		fprintf(stderr, "printed JSON does not parse: %s\n%s\n",
			error_message(), sb.buf);
		abort();
	}
	if (!value_equal(v, back)) {
		fprintf(stderr, "round trip changed the value:\n%s\n", sb.buf);
		abort();
	}
	value_free(v);
	value_free(back);
	strbuf_release(&sb);
	return 0;
}
