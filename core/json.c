/*
 * json.c - see json.h.
 */
#include <math.h>
#include <string.h>

#include <cJSON.h>

#include "bug.h"
#include "error.h"
#include "json.h"
#include "limits.h"
#include "banned.h"

struct json_conv {
	const char *name;
	size_t nodes;
};

static int conv(struct json_conv *jc, const cJSON *j, struct value *out,
		int depth)
{
	const cJSON *c;
	long long index = 0;
	int ret;

	if (++jc->nodes > LIMIT_VALUE_NODES)
		return error_set(FURROW_ELIMIT, "%s: more than %d values",
				 jc->name, LIMIT_VALUE_NODES);
	/* Tables at depth 0..LIMIT_VALUE_DEPTH-1, as in core/sandbox.c. */
	if (depth >= LIMIT_VALUE_DEPTH && (cJSON_IsArray(j) || cJSON_IsObject(j)))
		return error_set(FURROW_ELIMIT, "%s: nested deeper than %d",
				 jc->name, LIMIT_VALUE_DEPTH);
	if (cJSON_IsNull(j)) {
		out->type = VALUE_NIL;
	} else if (cJSON_IsBool(j)) {
		out->type = VALUE_BOOLEAN;
		out->u.boolean = cJSON_IsTrue(j);
	} else if (cJSON_IsNumber(j)) {
		double d = j->valuedouble;

		/* 1e400 parses as inf, which JSON cannot say back. */
		if (!isfinite(d))
			return error_set(FURROW_EINVAL, "%s: number out of "
					 "range", jc->name);
		/* 2^53: beyond it doubles stop being exact integers. */
		if (d == floor(d) && fabs(d) <= 9007199254740992.0) {
			out->type = VALUE_INTEGER;
			out->u.integer = (long long)d;
		} else {
			out->type = VALUE_NUMBER;
			out->u.number = d;
		}
	} else if (cJSON_IsString(j)) {
		value_set_string(out, j->valuestring, strlen(j->valuestring));
	} else if (cJSON_IsArray(j) || cJSON_IsObject(j)) {
		out->type = VALUE_TABLE;
		cJSON_ArrayForEach(c, j) {
			struct value *slot = cJSON_IsArray(j) ?
				value_table_add_int(out, ++index) :
				value_table_add_str(out, c->string,
						    strlen(c->string));

			ret = conv(jc, c, slot, depth + 1);
			if (ret)
				return ret;
		}
		if (value_sort(out))
			return error_set(FURROW_ESYNTAX, "%s: duplicate object "
					 "key", jc->name);
	} else {
		return error_set(FURROW_ESYNTAX, "%s: invalid JSON value",
				 jc->name);
	}
	return 0;
}

int json_parse(struct value **out, const char *name, const char *text,
	       size_t len, size_t max_bytes)
{
	struct json_conv jc = { name, 0 };
	const char *end = NULL;
	struct value *v = NULL;
	cJSON *j = NULL;
	int ret;

	*out = NULL;
	if (len > max_bytes)
		return error_set(FURROW_ELIMIT, "%s: %zu bytes of JSON, more "
				 "than the limit of %zu", name, len, max_bytes);
	j = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (!j) {
		ret = error_set(FURROW_ESYNTAX, "%s: malformed JSON at byte %zu",
				name, end && end >= text ?
				(size_t)(end - text) : (size_t)0);
		goto out;
	}
	/* Only white space may follow the value. */
	while (end < text + len && strchr(" \t\r\n", *end) && *end)
		end++;
	if (end != text + len) {
		ret = error_set(FURROW_ESYNTAX, "%s: trailing data after JSON "
				"at byte %zu", name, (size_t)(end - text));
		goto out;
	}
	v = value_new(VALUE_NIL);
	ret = conv(&jc, j, v, 0);
	if (!ret) {
		*out = v;
		v = NULL;
	}
out:
	cJSON_Delete(j);
	value_free(v);
	return ret;
}

const char *json_cjson_version(void)
{
	return cJSON_Version();
}
