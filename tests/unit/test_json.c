/*
 * test_json.c - core/json.c (json_parse) and value_to_json from
 * core/value.c: shapes, numbers, limits, malformed input and round trips.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "json.h"
#include "limits.h"
#include "strbuf.h"
#include "tap.h"
#include "value.h"

#define MAXB (1u << 20)

static int parse(struct value **out, const char *text)
{
	return json_parse(out, "test.json", text, strlen(text), MAXB);
}

/* Parse text and print it back compactly; NULL on error. */
static char *reformat(const char *text)
{
	struct strbuf sb = STRBUF_INIT;
	struct value *v;

	if (parse(&v, text))
		return NULL;
	value_to_json(&sb, v, 0);
	value_free(v);
	return strbuf_detach(&sb, NULL);
}

static void is_reformat(const char *text, const char *want, const char *name)
{
	char *got = reformat(text);

	if (!got)
		tap_diag("error: %s", error_message());
	is_str(got, want, name);
	free(got);
}

static void fails(const char *text, size_t len, size_t max, int code,
		  const char *substr, const char *name)
{
	struct value *v = (struct value *)1;
	int rc;

	error_clear();
	rc = json_parse(&v, "peer.json", text, len, max);
	ok(rc == code && v == NULL && strstr(error_message(), substr),
	   "%s -> %s", name, error_name(code));
	if (rc != code || !strstr(error_message(), substr))
		tap_diag("rc=%d (%s): %s; want \"%s\"", rc, error_name(rc),
			 error_message(), substr);
	value_free(rc ? NULL : v);
}

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

static void test_shapes(void)
{
	struct value *v = NULL;
	const struct value *x;
	int rc;

	rc = parse(&v, " {\"b\": [1, 2.5, \"s\", true, false, null],"
		   " \"a\": {\"n\": -3}, \"e\": [], \"o\": {}} \n");
	ok(rc == 0 && v && v->type == VALUE_TABLE, "an object parses");
	if (!rc) {
		x = value_get(v, "b");
		ok(x && value_is_array(x) && x->u.table.count == 6,
		   "array becomes a table keyed 1..6");
		if (x && x->u.table.count == 6) {
			const struct value_entry *e = x->u.table.entries;

			ok(e[0].key.type == VALUE_INTEGER && e[0].key.u.integer == 1 &&
			   e[0].val.type == VALUE_INTEGER && e[0].val.u.integer == 1,
			   "[1] = integer 1");
			ok(e[1].val.type == VALUE_NUMBER && e[1].val.u.number == 2.5,
			   "[2] = number 2.5");
			ok(e[2].val.type == VALUE_STRING &&
			   !strcmp(e[2].val.u.string.ptr, "s"), "[3] = \"s\"");
			ok(e[3].val.type == VALUE_BOOLEAN && e[3].val.u.boolean,
			   "[4] = true");
			ok(e[4].val.type == VALUE_BOOLEAN && !e[4].val.u.boolean,
			   "[5] = false");
			ok(e[5].val.type == VALUE_NIL, "[6] = null is nil");
		}
		x = value_get(value_get(v, "a"), "n");
		ok(x && x->type == VALUE_INTEGER && x->u.integer == -3,
		   "nested object member");
		ok(v->u.table.count == 4 &&
		   !strcmp(v->u.table.entries[0].key.u.string.ptr, "a") &&
		   !strcmp(v->u.table.entries[3].key.u.string.ptr, "o"),
		   "object keys come out sorted");
	}
	value_free(v);

	is_reformat("42", "42", "a bare integer");
	is_reformat("\"str\"", "\"str\"", "a bare string");
	is_reformat("null", "null", "a bare null");
	is_reformat("true", "true", "a bare true");
	is_reformat("{\"z\":1,\"a\":2,\"m\":{\"y\":1,\"b\":2}}",
		    "{\"a\":2,\"m\":{\"b\":2,\"y\":1},\"z\":1}",
		    "keys sorted at every level");
	is_reformat("[[],{}]", "[{},{}]", "empty array and object are both "
		    "empty tables");
	is_reformat("{\"1\":\"a\"}", "{\"1\":\"a\"}",
		    "a numeric-looking object key stays a string key");
}

static void test_numbers(void)
{
	struct value *v = NULL;
	int rc;

	rc = parse(&v, "[1, 1.0, -0, 1e3, 1.5e300, 9007199254740992, "
		   "9007199254740994, -9007199254740992, 0.1]");
	ok(rc == 0, "numbers parse");
	if (!rc && v->u.table.count == 9) {
		const struct value_entry *e = v->u.table.entries;

		ok(e[0].val.type == VALUE_INTEGER, "1 is an integer");
		ok(e[1].val.type == VALUE_INTEGER && e[1].val.u.integer == 1,
		   "1.0 is integral: an integer");
		ok(e[2].val.type == VALUE_INTEGER && e[2].val.u.integer == 0,
		   "-0 is the integer 0");
		ok(e[3].val.type == VALUE_INTEGER && e[3].val.u.integer == 1000,
		   "1e3 is the integer 1000");
		ok(e[4].val.type == VALUE_NUMBER && e[4].val.u.number == 1.5e300,
		   "1.5e300 stays a float");
		ok(e[5].val.type == VALUE_INTEGER &&
		   e[5].val.u.integer == 9007199254740992LL, "2^53 is an integer");
		ok(e[6].val.type == VALUE_NUMBER,
		   "2^53 + 2 is a float (beyond exact integers)");
		ok(e[7].val.type == VALUE_INTEGER &&
		   e[7].val.u.integer == -9007199254740992LL, "-2^53 is an integer");
		ok(e[8].val.type == VALUE_NUMBER && e[8].val.u.number == 0.1,
		   "0.1 is a float");
	} else {
		ok(0, "nine numbers");
	}
	value_free(v);
	is_reformat("[0.1, 1e-7, 123456.789, 0.30000000000000004]",
		    "[0.1,1e-07,123456.789,0.30000000000000004]",
		    "floats print in the shortest form that reads back");
	fails("1e400", 5, MAXB, FURROW_EINVAL, "number out of range",
	      "1e400 overflows a double");
	fails("[-1e400]", 8, MAXB, FURROW_EINVAL, "number out of range",
	      "-1e400 overflows a double");
}

static void test_malformed(void)
{
	static const char nul_inside[] = "{\"a\":1}\0{}";
	struct strbuf sb = STRBUF_INIT;
	int i;

	fails("{\"a\":1,\"a\":2}", 13, MAXB, FURROW_ESYNTAX,
	      "peer.json: duplicate object key", "duplicate keys");
	fails("{\"x\":{\"a\":1,\"b\":2,\"a\":3}}", 25, MAXB, FURROW_ESYNTAX,
	      "duplicate object key", "duplicate keys nested");
	fails("{\"a\":1} x", 9, MAXB, FURROW_ESYNTAX,
	      "trailing data after JSON at byte 8", "trailing garbage");
	fails("[1][2]", 6, MAXB, FURROW_ESYNTAX, "trailing data",
	      "two documents");
	fails(nul_inside, sizeof(nul_inside) - 1, MAXB, FURROW_ESYNTAX,
	      "trailing data", "a NUL byte after the value");
	fails("{\"a\":[1,2", 9, MAXB, FURROW_ESYNTAX, "malformed JSON",
	      "truncated input");
	fails("{\"a\":1}", 4, MAXB, FURROW_ESYNTAX, "malformed JSON",
	      "length cuts a valid document");
	fails("\"abc", 4, MAXB, FURROW_ESYNTAX, "malformed JSON",
	      "unterminated string");
	fails("", 0, MAXB, FURROW_ESYNTAX, "malformed JSON", "empty input");
	fails("   ", 3, MAXB, FURROW_ESYNTAX, "malformed JSON",
	      "only white space");
	fails("{a:1}", 5, MAXB, FURROW_ESYNTAX, "malformed JSON",
	      "unquoted key");
	fails("[1,]", 4, MAXB, FURROW_ESYNTAX, "malformed JSON",
	      "trailing comma");
	fails("NaN", 3, MAXB, FURROW_ESYNTAX, "malformed JSON", "NaN");

	fails("[1,2,3]", 7, 6, FURROW_ELIMIT,
	      "peer.json: 7 bytes of JSON, more than the limit of 6",
	      "over max bytes");
	{
		struct value *v = NULL;
		int rc = json_parse(&v, "peer.json", "[1,2,3]", 7, 7);

		ok(rc == 0 && v, "exactly max bytes is fine");
		value_free(v);
	}

	for (i = 0; i < LIMIT_VALUE_DEPTH + 1; i++)
		strbuf_addch(&sb, '[');
	for (i = 0; i < LIMIT_VALUE_DEPTH + 1; i++)
		strbuf_addch(&sb, ']');
	fails(sb.buf, sb.len, MAXB, FURROW_ELIMIT, "nested deeper than 32",
	      "nesting one over LIMIT_VALUE_DEPTH");
	strbuf_reset(&sb);
	for (i = 0; i < LIMIT_VALUE_DEPTH; i++)
		strbuf_addch(&sb, '[');
	for (i = 0; i < LIMIT_VALUE_DEPTH; i++)
		strbuf_addch(&sb, ']');
	{
		struct value *v = NULL;
		int rc = json_parse(&v, "peer.json", sb.buf, sb.len, MAXB);

		ok(rc == 0, "nesting at LIMIT_VALUE_DEPTH is fine");
		value_free(v);
	}
	strbuf_reset(&sb);
	for (i = 0; i < 100000; i++)
		strbuf_addch(&sb, '[');
	fails(sb.buf, sb.len, MAXB, FURROW_ESYNTAX, "malformed",
	      "100000 open brackets (cJSON's own nesting limit)");
	strbuf_reset(&sb);
	strbuf_addch(&sb, '[');
	for (i = 0; i < LIMIT_VALUE_NODES; i++)
		strbuf_addstr(&sb, i ? ",0" : "0");
	strbuf_addch(&sb, ']');
	fails(sb.buf, sb.len, sb.len, FURROW_ELIMIT, "more than 1000000 values",
	      "more than LIMIT_VALUE_NODES values");
	strbuf_release(&sb);
}

static void round_trip(const char *text, const char *name)
{
	struct strbuf sb = STRBUF_INIT, pretty = STRBUF_INIT;
	struct value *a = NULL, *b = NULL, *c = NULL;
	int rc;

	rc = parse(&a, text);
	ok(rc == 0, "%s: parses", name);
	if (rc) {
		tap_diag("%s", error_message());
		return;
	}
	value_to_json(&sb, a, 0);
	rc = json_parse(&b, "again", sb.buf, sb.len, MAXB);
	ok(rc == 0 && value_equal(a, b),
	   "%s: value_to_json -> json_parse gives an equal tree", name);
	if (rc)
		tap_diag("%s: %s", error_message(), sb.buf);
	value_to_json(&pretty, a, 2);
	rc = json_parse(&c, "pretty", pretty.buf, pretty.len, MAXB);
	ok(rc == 0 && value_equal(a, c), "%s: indented output too", name);
	value_free(a);
	value_free(b);
	value_free(c);
	strbuf_release(&sb);
	strbuf_release(&pretty);
}

static void test_round_trip(void)
{
	struct value *v = NULL, *back = NULL;
	struct strbuf sb = STRBUF_INIT;
	char raw[40];
	int i, rc;

	round_trip("{\"q\":\"a \\\"quoted\\\" \\\\ back\\/slash\","
		   "\"ctl\":\"\\u0001\\u001f\\u007f\\b\\f\\n\\r\\t\","
		   "\"uni\":\"\\u00e9\\u4e2d\\ud83d\\ude00 \xc3\xa9\","
		   "\"n\":[1,-2,0.5,1e300,-1.25e-300,null,true,false],"
		   "\"deep\":{\"a\":{\"b\":{\"c\":[[],{}]}}},"
		   "\"\\u00e9t\\u00e9\":\"key escapes\"}",
		   "escapes, control chars, unicode");
	round_trip("[]", "empty array");
	round_trip("\"\\u0000tail\"", "an escaped NUL");

	/* Every byte 1..255 (raw; cJSON passes non-ASCII through). */
	v = value_new(VALUE_TABLE);
	for (i = 1; i < 256; i++) {
		raw[0] = (char)i;
		raw[1] = 'x';
		value_set_string(value_table_add_int(v, i), raw, 2);
	}
	value_to_json(&sb, v, 0);
	rc = json_parse(&back, "bytes", sb.buf, sb.len, MAXB);
	ok(rc == 0 && value_equal(v, back),
	   "strings holding every byte value survive a round trip");
	if (rc)
		tap_diag("%s", error_message());
	ok(!strchr(sb.buf, '\x01') && !strchr(sb.buf, '\x7f') &&
	   strstr(sb.buf, "\\u0001x") && strstr(sb.buf, "\\u007fx"),
	   "control bytes are escaped as \\u00XX");
	value_free(v);
	value_free(back);
	strbuf_release(&sb);

	/* A table with integer keys that are not 1..n is an object. */
	v = value_new(VALUE_TABLE);
	value_table_add_int(v, 5)->type = VALUE_BOOLEAN;
	value_table_add_int(v, 2)->type = VALUE_NIL;
	value_sort(v);
	value_to_json(&sb, v, 0);
	is_str(sb.buf, "{\"2\":null,\"5\":false}",
	       "sparse integer keys print as an object");
	value_free(v);
	strbuf_reset(&sb);
	v = value_new(VALUE_NUMBER);
	v->u.number = INFINITY;
	value_to_json(&sb, v, 0);
	is_str(sb.buf, "null", "inf (no JSON form) prints as null");
	value_free(v);
	strbuf_release(&sb);
	ok(strlen(json_cjson_version()) >= 5 &&
	   strchr(json_cjson_version(), '.'),
	   "json_cjson_version looks like a version (%s)",
	   json_cjson_version());
}

int main(void)
{
	test_shapes();
	test_numbers();
	test_malformed();
	test_round_trip();
	return tap_done();
}
