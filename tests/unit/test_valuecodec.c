/*
 * test_valuecodec.c - the child-to-parent result frames: round trips,
 * error frames, and hostile bytes that must be refused, not trusted.
 */
#include <stdint.h>
#include <string.h>

#include "error.h"
#include "json.h"
#include "limits.h"
#include "tap.h"
#include "valuecodec.h"

static struct value *parse(const char *json)
{
	struct value *v = NULL;

	if (json_parse(&v, "t", json, strlen(json), 1 << 20))
		return NULL;
	return v;
}

static void round_trip(const char *json)
{
	struct strbuf enc = STRBUF_INIT, a = STRBUF_INIT, b = STRBUF_INIT;
	struct value *v = parse(json), *w = NULL;

	valuecodec_encode(&enc, v);
	is_int(valuecodec_decode(&w, "rt", enc.buf, enc.len), 0, json);
	value_to_json(&a, v, 0);
	if (w)
		value_to_json(&b, w, 0);
	is_str(b.buf, a.buf, "... decodes to the same tree");
	value_free(v);
	value_free(w);
	strbuf_release(&enc);
	strbuf_release(&a);
	strbuf_release(&b);
}

static void refused(const void *buf, size_t len, int code, const char *msg,
		    const char *name)
{
	struct value *v = NULL;

	is_int(valuecodec_decode(&v, "frame", buf, len), code, name);
	ok(strstr(error_message(), msg) != NULL, "... message: %s",
	   error_message());
	ok(v == NULL, "... no value");
}

int main(void)
{
	struct strbuf sb = STRBUF_INIT;
	struct value *v = NULL;
	int ret;

	round_trip("null");
	round_trip("{\"a\":[1,2.5,\"x\\u0000y\",true,false,{}],\"b\":{\"c\":-7}}");
	round_trip("[[[[\"deep\"]]]]");

	valuecodec_encode_error(&sb, FURROW_ELIMIT, "agent.lua: too much");
	ret = valuecodec_decode(&v, "e", sb.buf, sb.len);
	is_int(ret, FURROW_ELIMIT, "an error frame returns its code");
	is_str(error_message(), "agent.lua: too much", "... and its message");
	strbuf_reset(&sb);
	valuecodec_encode_error(&sb, 12345, "odd");
	is_int(valuecodec_decode(&v, "e", sb.buf, sb.len), FURROW_ERR,
	       "an unknown (positive) code becomes FURROW_ERR");

	refused("", 0, FURROW_ESYNTAX, "not a furrow result frame", "empty input");
	refused("FRW2Vn", 6, FURROW_ESYNTAX, "not a furrow", "wrong magic");
	refused("FRW1X", 5, FURROW_ESYNTAX, "unknown frame status", "bad status");
	refused("FRW1Vnn", 7, FURROW_ESYNTAX, "trailing data", "trailing bytes");
	refused("FRW1Vi\1\2", 8, FURROW_ESYNTAX, "truncated", "truncated integer");
	refused("FRW1Vs\xff\xff\xff\x0f", 10, FURROW_ELIMIT, "more than the limit",
		"string length over the limit");
	refused("FRW1Vs\x10\0\0\0abc", 13, FURROW_ESYNTAX, "truncated",
		"string length past the end");
	refused("FRW1VT\xff\xff\xff\xff", 10, FURROW_ESYNTAX, "runs past the end",
		"table count past the end");
	refused("FRW1VT\1\0\0\0tn", 12, FURROW_ESYNTAX, "table key of tag",
		"boolean table key");
	refused("FRW1VT\2\0\0\0s\1\0\0\0ans\1\0\0\0an", 26, FURROW_ESYNTAX,
		"duplicate table key", "duplicate keys");
	refused("FRW1Vq", 6, FURROW_ESYNTAX, "unknown tag", "unknown tag");
	refused("FRW1E\xf9\xff\xff\xff\x09\0\0\0hi", 15, FURROW_ESYNTAX,
		"bad error frame", "error frame length lies");

	/* Nesting one past the limit. */
	strbuf_reset(&sb);
	strbuf_addstr(&sb, "FRW1V");
	for (int i = 0; i <= LIMIT_VALUE_DEPTH; i++)
		strbuf_add(&sb, "T\1\0\0\0i\1\0\0\0\0\0\0\0", 14);
	strbuf_addch(&sb, 'n');
	refused(sb.buf, sb.len, FURROW_ELIMIT, "nested deeper", "too deep");

	strbuf_release(&sb);
	return tap_done();
}
