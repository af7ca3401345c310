/*
 * value.c - the plain data tree (see value.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bug.h"
#include "value.h"
#include "banned.h"

struct value *value_new(enum value_type type)
{
	struct value *v = xcalloc(1, sizeof(*v));

	v->type = type;
	return v;
}

void value_set_string(struct value *v, const char *s, size_t len)
{
	value_clear(v);
	v->type = VALUE_STRING;
	v->u.string.ptr = xstrndup(s, len);
	v->u.string.len = len;
}

static struct value_entry *table_append(struct value *t)
{
	struct value_entry *e;

	if (t->type != VALUE_TABLE)
		BUG("value_table_add on a %s", value_type_name(t->type));
	/*
	 * No separate capacity field: the array holds 4 entries from the
	 * first append and doubles whenever count reaches a power of two.
	 */
	size_t n = t->u.table.count;
	if (n == 0 || (n >= 4 && (n & (n - 1)) == 0))
		t->u.table.entries = xrealloc(t->u.table.entries,
			(n ? n * 2 : 4) * sizeof(*t->u.table.entries));
	e = &t->u.table.entries[t->u.table.count++];
	memset(e, 0, sizeof(*e));
	return e;
}

struct value *value_table_add_str(struct value *t, const char *key, size_t klen)
{
	struct value_entry *e = table_append(t);

	value_set_string(&e->key, key, klen);
	return &e->val;
}

struct value *value_table_add_int(struct value *t, long long key)
{
	struct value_entry *e = table_append(t);

	e->key.type = VALUE_INTEGER;
	e->key.u.integer = key;
	return &e->val;
}

struct value *value_put(struct value *t, const char *key)
{
	return value_table_add_str(t, key, strlen(key));
}

void value_put_str(struct value *t, const char *key, const char *s)
{
	value_set_string(value_put(t, key), s, strlen(s));
}

void value_put_strn(struct value *t, const char *key, const char *s, size_t len)
{
	value_set_string(value_put(t, key), s, len);
}

void value_put_int(struct value *t, const char *key, long long n)
{
	struct value *v = value_put(t, key);

	v->type = VALUE_INTEGER;
	v->u.integer = n;
}

static int key_cmp(const struct value *a, const struct value *b)
{
	size_t n;
	int c;

	if (a->type != b->type)
		return a->type == VALUE_INTEGER ? -1 : 1;
	if (a->type == VALUE_INTEGER)
		return a->u.integer < b->u.integer ? -1 :
		       a->u.integer > b->u.integer;
	n = a->u.string.len < b->u.string.len ? a->u.string.len :
						b->u.string.len;
	c = memcmp(a->u.string.ptr, b->u.string.ptr, n);
	if (c)
		return c;
	return a->u.string.len < b->u.string.len ? -1 :
	       a->u.string.len > b->u.string.len;
}

static int entry_cmp(const void *a, const void *b)
{
	return key_cmp(&((const struct value_entry *)a)->key,
		       &((const struct value_entry *)b)->key);
}

int value_sort(struct value *t)
{
	size_t i;

	if (t->type != VALUE_TABLE || t->u.table.count < 2)
		return 0;
	qsort(t->u.table.entries, t->u.table.count,
	      sizeof(*t->u.table.entries), entry_cmp);
	for (i = 1; i < t->u.table.count; i++)
		if (!key_cmp(&t->u.table.entries[i - 1].key,
			     &t->u.table.entries[i].key))
			return -1;
	return 0;
}

void value_copy_into(struct value *dst, const struct value *src)
{
	switch (src->type) {
	case VALUE_STRING:
		value_set_string(dst, src->u.string.ptr, src->u.string.len);
		return;
	case VALUE_TABLE:
		dst->type = VALUE_TABLE;
		for (size_t i = 0; i < src->u.table.count; i++) {
			const struct value_entry *e = &src->u.table.entries[i];
			struct value *slot = e->key.type == VALUE_INTEGER ?
				value_table_add_int(dst, e->key.u.integer) :
				value_table_add_str(dst, e->key.u.string.ptr,
						    e->key.u.string.len);

			value_copy_into(slot, &e->val);
		}
		return;
	default:
		*dst = *src;
		return;
	}
}

void value_clear(struct value *v)
{
	size_t i;

	if (!v)
		return;
	if (v->type == VALUE_STRING) {
		free(v->u.string.ptr);
	} else if (v->type == VALUE_TABLE) {
		for (i = 0; i < v->u.table.count; i++) {
			value_clear(&v->u.table.entries[i].key);
			value_clear(&v->u.table.entries[i].val);
		}
		free(v->u.table.entries);
	}
	memset(v, 0, sizeof(*v));
}

void value_free(struct value *v)
{
	value_clear(v);
	free(v);
}

const struct value *value_get(const struct value *t, const char *key)
{
	size_t i, klen;

	if (!t || t->type != VALUE_TABLE)
		return NULL;
	klen = strlen(key);
	for (i = 0; i < t->u.table.count; i++) {
		const struct value *k = &t->u.table.entries[i].key;

		if (k->type == VALUE_STRING && k->u.string.len == klen &&
		    !memcmp(k->u.string.ptr, key, klen))
			return &t->u.table.entries[i].val;
	}
	return NULL;
}

int value_is_array(const struct value *t)
{
	size_t i;

	if (!t || t->type != VALUE_TABLE)
		return 0;
	for (i = 0; i < t->u.table.count; i++) {
		const struct value *k = &t->u.table.entries[i].key;

		if (k->type != VALUE_INTEGER || k->u.integer != (long long)i + 1)
			return 0;
	}
	return 1;
}

const char *value_type_name(enum value_type t)
{
	switch (t) {
	case VALUE_NIL: return "nil";
	case VALUE_BOOLEAN: return "boolean";
	case VALUE_INTEGER: return "integer";
	case VALUE_NUMBER: return "number";
	case VALUE_STRING: return "string";
	case VALUE_TABLE: return "table";
	}
	BUG("bad value type %d", (int)t);
}

void value_add_number(struct strbuf *sb, double d)
{
	char buf[40];

	/* The shortest of %.15g..%.17g that reads back as the same double:
	 * 0.2 prints as 0.2, not 0.20000000000000001. */
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	/* Keep it a float when read back by Lua or JSON readers that care. */
	strbuf_addstr(sb, buf);
	if (!strpbrk(buf, ".eEni"))
		strbuf_addstr(sb, ".0");
}

static void json_indent(struct strbuf *sb, int indent, int depth)
{
	if (indent <= 0)
		return;
	strbuf_addch(sb, '\n');
	for (int i = 0; i < indent * depth; i++)
		strbuf_addch(sb, ' ');
}

static void to_json(struct strbuf *sb, const struct value *v, int indent,
		    int depth)
{
	size_t i;
	int array;

	switch (v->type) {
	case VALUE_NIL:
		strbuf_addstr(sb, "null");
		return;
	case VALUE_BOOLEAN:
		strbuf_addstr(sb, v->u.boolean ? "true" : "false");
		return;
	case VALUE_INTEGER:
		strbuf_addf(sb, "%lld", v->u.integer);
		return;
	case VALUE_NUMBER:
		/* JSON has no inf/nan. */
		if (isfinite(v->u.number))
			value_add_number(sb, v->u.number);
		else
			strbuf_addstr(sb, "null");
		return;
	case VALUE_STRING:
		strbuf_add_json_string(sb, v->u.string.ptr, v->u.string.len);
		return;
	case VALUE_TABLE:
		break;
	}
	array = value_is_array(v) && v->u.table.count > 0;
	strbuf_addch(sb, array ? '[' : '{');
	for (i = 0; i < v->u.table.count; i++) {
		const struct value_entry *e = &v->u.table.entries[i];

		if (i)
			strbuf_addch(sb, ',');
		json_indent(sb, indent, depth + 1);
		if (!array) {
			if (e->key.type == VALUE_STRING)
				strbuf_add_json_string(sb, e->key.u.string.ptr,
						       e->key.u.string.len);
			else
				strbuf_addf(sb, "\"%lld\"", e->key.u.integer);
			strbuf_addstr(sb, indent > 0 ? ": " : ":");
		}
		to_json(sb, &e->val, indent, depth + 1);
	}
	if (v->u.table.count)
		json_indent(sb, indent, depth);
	strbuf_addch(sb, array ? ']' : '}');
}

void value_to_json(struct strbuf *sb, const struct value *v, int indent)
{
	to_json(sb, v, indent, 0);
}
