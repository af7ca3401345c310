/*
 * embedded.h - files built into the binary (lua/ and policies/).
 *
 * image/embed.sh generates the table at build time; the Makefile feeds it
 * every .lua file of lua/, named by base name like "desired.lua", and
 * every policies/NAME.lua, named "std:NAME" (core/policy.h).
 */
#ifndef FURROW_EMBEDDED_H
#define FURROW_EMBEDDED_H

#include <stddef.h>

struct embedded_file {
	const char *name;  /* e.g. "desired.lua", "std:freeze" */
	const char *data;  /* len bytes, then a NUL not counted in len */
	size_t len;
};

/* The generated table, ended by an entry whose name is NULL. */
extern const struct embedded_file embedded_files[];

/*
 * The contents of the embedded file called name, with its length in *len
 * (if len is not NULL); NULL if there is none.  The bytes are static:
 * never free them.
 */
const char *embedded_get(const char *name, size_t *len);

#endif
