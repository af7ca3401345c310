/*
 * value.h - a plain data tree: what comes out of a Lua sandbox.
 *
 * Lua values never leave core/sandbox.c; the rest of furrow reads these
 * instead.  Table entries are sorted (integer keys ascending, then string
 * keys bytewise), so iteration order and everything printed from a tree
 * are deterministic, whatever order Lua's hash part had.
 */
#ifndef FURROW_VALUE_H
#define FURROW_VALUE_H

#include <stddef.h>

#include "strbuf.h"

enum value_type {
	VALUE_NIL,
	VALUE_BOOLEAN,
	VALUE_INTEGER,
	VALUE_NUMBER,
	VALUE_STRING,
	VALUE_TABLE,
};

struct value_entry;

struct value {
	enum value_type type;
	union {
		int boolean;
		long long integer;
		double number;
		struct {
			char *ptr; /* NUL-terminated; may contain NULs */
			size_t len;
		} string;
		struct {
			struct value_entry *entries;
			size_t count;
		} table;
	} u;
};

/* Keys are integers or strings (Lua keys of other types are refused). */
struct value_entry {
	struct value key;
	struct value val;
};

/* Constructors for building trees; all allocate-or-die. */
struct value *value_new(enum value_type type);
void value_set_string(struct value *v, const char *s, size_t len);
/* Append an entry; keys are adopted by copy.  Call value_sort() after. */
struct value *value_table_add_str(struct value *t, const char *key, size_t klen);
struct value *value_table_add_int(struct value *t, long long key);
/* Add a string-keyed entry and return its (nil) value slot, or set it to
 * a C string, len bytes (NULs allowed), or an integer.  Call value_sort()
 * after building the table. */
struct value *value_put(struct value *t, const char *key);
void value_put_str(struct value *t, const char *key, const char *s);
void value_put_strn(struct value *t, const char *key, const char *s, size_t len);
void value_put_int(struct value *t, const char *key, long long n);

/* Sort a table's entries (see top); returns -1 if two keys are equal. */
int value_sort(struct value *t);

/* Make dst (an empty slot: VALUE_NIL, no allocation) a deep copy of src.
 * Tables keep src's order, which is already sorted. */
void value_copy_into(struct value *dst, const struct value *src);

/* Free a tree made by value_new() or a sandbox; accepts NULL. */
void value_free(struct value *v);
/* Free only the contents of v (for values embedded in entries). */
void value_clear(struct value *v);

/* Lookup by string key in a table; NULL if v is not a table or absent. */
const struct value *value_get(const struct value *t, const char *key);

/* True if t is a table whose keys are exactly 1..n. */
int value_is_array(const struct value *t);

/* "nil", "boolean", "integer", "number", "string", "table". */
const char *value_type_name(enum value_type t);

/* Append a double, shortest text that reads back exactly ("0.2"). */
void value_add_number(struct strbuf *sb, double d);

/* Append v to sb as JSON (tables with keys 1..n become arrays). */
void value_to_json(struct strbuf *sb, const struct value *v, int indent);

#endif
