/*
 * valuecodec.c - see valuecodec.h.
 */
#include <stdint.h>
#include <string.h>

#include "bug.h"
#include "error.h"
#include "limits.h"
#include "valuecodec.h"
#include "banned.h"

static void put_u32(struct strbuf *sb, uint32_t v)
{
	unsigned char b[4] = { v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff,
			       (v >> 24) & 0xff };

	strbuf_add(sb, b, 4);
}

static void put_u64(struct strbuf *sb, uint64_t v)
{
	put_u32(sb, (uint32_t)v);
	put_u32(sb, (uint32_t)(v >> 32));
}

static void encode(struct strbuf *sb, const struct value *v)
{
	uint64_t bits;

	switch (v->type) {
	case VALUE_NIL:
		strbuf_addch(sb, 'n');
		return;
	case VALUE_BOOLEAN:
		strbuf_addch(sb, v->u.boolean ? 't' : 'f');
		return;
	case VALUE_INTEGER:
		strbuf_addch(sb, 'i');
		put_u64(sb, (uint64_t)v->u.integer);
		return;
	case VALUE_NUMBER:
		strbuf_addch(sb, 'd');
		memcpy(&bits, &v->u.number, sizeof(bits));
		put_u64(sb, bits);
		return;
	case VALUE_STRING:
		if (v->u.string.len > UINT32_MAX)
			BUG("string too long to encode");
		strbuf_addch(sb, 's');
		put_u32(sb, (uint32_t)v->u.string.len);
		strbuf_add(sb, v->u.string.ptr, v->u.string.len);
		return;
	case VALUE_TABLE:
		strbuf_addch(sb, 'T');
		put_u32(sb, (uint32_t)v->u.table.count);
		for (size_t i = 0; i < v->u.table.count; i++) {
			encode(sb, &v->u.table.entries[i].key);
			encode(sb, &v->u.table.entries[i].val);
		}
		return;
	}
	BUG("bad value type %d", (int)v->type);
}

void valuecodec_encode(struct strbuf *out, const struct value *v)
{
	strbuf_addstr(out, "FRW1V");
	encode(out, v);
}

void valuecodec_encode_error(struct strbuf *out, int code, const char *msg)
{
	size_t len = strlen(msg);

	strbuf_addstr(out, "FRW1E");
	put_u32(out, (uint32_t)code);
	put_u32(out, (uint32_t)len);
	strbuf_add(out, msg, len);
}

struct reader {
	const unsigned char *p;
	size_t left;
	size_t nodes;
	const char *what;
};

static int need(struct reader *r, size_t n)
{
	if (r->left < n)
		return error_set(FURROW_ESYNTAX, "%s: truncated data", r->what);
	return 0;
}

static uint32_t get_u32(struct reader *r)
{
	uint32_t v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 |
		     (uint32_t)r->p[2] << 16 | (uint32_t)r->p[3] << 24;

	r->p += 4;
	r->left -= 4;
	return v;
}

static uint64_t get_u64(struct reader *r)
{
	uint64_t lo = get_u32(r);

	return lo | (uint64_t)get_u32(r) << 32;
}

static int decode(struct reader *r, struct value *out, int depth, int is_key);

static int decode_table(struct reader *r, struct value *out, int depth)
{
	uint32_t count;
	int ret;

	if (depth >= LIMIT_VALUE_DEPTH)
		return error_set(FURROW_ELIMIT, "%s: nested deeper than %d",
				 r->what, LIMIT_VALUE_DEPTH);
	if ((ret = need(r, 4)))
		return ret;
	count = get_u32(r);
	/* Each entry takes at least two bytes: a cheap bound before work. */
	if (count > r->left / 2)
		return error_set(FURROW_ESYNTAX, "%s: table count %u runs past "
				 "the end", r->what, count);
	out->type = VALUE_TABLE;
	for (uint32_t i = 0; i < count; i++) {
		struct value key = { 0 };
		struct value *slot;

		ret = decode(r, &key, depth + 1, 1);
		if (ret) {
			value_clear(&key);
			return ret;
		}
		slot = key.type == VALUE_INTEGER ?
			value_table_add_int(out, key.u.integer) :
			value_table_add_str(out, key.u.string.ptr,
					    key.u.string.len);
		value_clear(&key);
		if ((ret = decode(r, slot, depth + 1, 0)))
			return ret;
	}
	/* Encoders write unique keys; a duplicate is forged. */
	if (value_sort(out))
		return error_set(FURROW_ESYNTAX, "%s: duplicate table key",
				 r->what);
	return 0;
}

static int decode(struct reader *r, struct value *out, int depth, int is_key)
{
	unsigned char tag;
	uint64_t bits;
	uint32_t len;
	int ret;

	if (++r->nodes > LIMIT_VALUE_NODES)
		return error_set(FURROW_ELIMIT, "%s: more than %d values",
				 r->what, LIMIT_VALUE_NODES);
	if ((ret = need(r, 1)))
		return ret;
	tag = *r->p++;
	r->left--;
	if (is_key && tag != 'i' && tag != 's')
		return error_set(FURROW_ESYNTAX, "%s: table key of tag 0x%02x",
				 r->what, tag);
	switch (tag) {
	case 'n':
		out->type = VALUE_NIL;
		return 0;
	case 't':
	case 'f':
		out->type = VALUE_BOOLEAN;
		out->u.boolean = tag == 't';
		return 0;
	case 'i':
		if ((ret = need(r, 8)))
			return ret;
		out->type = VALUE_INTEGER;
		out->u.integer = (long long)get_u64(r);
		return 0;
	case 'd':
		if ((ret = need(r, 8)))
			return ret;
		bits = get_u64(r);
		out->type = VALUE_NUMBER;
		memcpy(&out->u.number, &bits, sizeof(bits));
		return 0;
	case 's':
		if ((ret = need(r, 4)))
			return ret;
		len = get_u32(r);
		if (len > LIMIT_VALUE_STRING_BYTES)
			return error_set(FURROW_ELIMIT, "%s: string of %u bytes, "
					 "more than the limit of %u", r->what,
					 len, LIMIT_VALUE_STRING_BYTES);
		if ((ret = need(r, len)))
			return ret;
		value_set_string(out, (const char *)r->p, len);
		r->p += len;
		r->left -= len;
		return 0;
	case 'T':
		return decode_table(r, out, depth);
	default:
		return error_set(FURROW_ESYNTAX, "%s: unknown tag 0x%02x",
				 r->what, tag);
	}
}

int valuecodec_decode(struct value **out, const char *what, const void *buf,
		      size_t len)
{
	struct reader r = { buf, len, 0, what };
	struct value *v = NULL;
	uint32_t code, mlen;
	int ret;

	*out = NULL;
	if (len < 5 || memcmp(buf, "FRW1", 4))
		return error_set(FURROW_ESYNTAX, "%s: not a furrow result frame",
				 what);
	r.p += 4;
	r.left -= 4;
	if (*r.p == 'E') {
		r.p++;
		r.left--;
		if ((ret = need(&r, 8)))
			return ret;
		code = get_u32(&r);
		mlen = get_u32(&r);
		if (mlen != r.left || mlen >= FURROW_ERROR_MAX)
			return error_set(FURROW_ESYNTAX, "%s: bad error frame",
					 what);
		ret = (int32_t)code;
		if (ret >= 0 || ret < FURROW_ENETFS)
			ret = FURROW_ERR;
		return error_set(ret, "%.*s", (int)mlen, (const char *)r.p);
	}
	if (*r.p != 'V')
		return error_set(FURROW_ESYNTAX, "%s: unknown frame status",
				 what);
	r.p++;
	r.left--;
	v = value_new(VALUE_NIL);
	ret = decode(&r, v, 0, 0);
	if (!ret && r.left)
		ret = error_set(FURROW_ESYNTAX, "%s: %zu bytes of trailing data",
				what, r.left);
	if (ret) {
		value_free(v);
		return ret;
	}
	*out = v;
	return 0;
}
