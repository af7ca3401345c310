/*
 * json.h - JSON text to a value tree (cJSON underneath).
 *
 * core/json.c is the only file that includes cJSON.  Output JSON is
 * written with value_to_json() (value.h); this side reads what peers
 * send (container engine, report receivers), so it is bounded.
 */
#ifndef FURROW_JSON_H
#define FURROW_JSON_H

#include <stddef.h>

#include "value.h"

/*
 * Parse len bytes of JSON (no trailing garbage) into *out, which the
 * caller frees with value_free().  Arrays become tables keyed 1..n,
 * null becomes VALUE_NIL, integral numbers that fit become integers.
 * Input over max_bytes, nesting over LIMIT_VALUE_DEPTH or more than
 * LIMIT_VALUE_NODES values is FURROW_ELIMIT; malformed text or a
 * duplicate object key is FURROW_ESYNTAX.  name is used in messages.
 */
int json_parse(struct value **out, const char *name, const char *text,
	       size_t len, size_t max_bytes);

/* "1.7.15", from the linked cJSON at run time. */
const char *json_cjson_version(void);

#endif
