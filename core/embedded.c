/*
 * embedded.c - look up files built into the binary (see embedded.h).
 */
#include <string.h>

#include "embedded.h"
#include "banned.h"

const char *embedded_get(const char *name, size_t *len)
{
	const struct embedded_file *f;

	/* A handful of files: a linear walk is all it takes. */
	for (f = embedded_files; f->name; f++) {
		if (!strcmp(f->name, name)) {
			if (len)
				*len = f->len;
			return f->data;
		}
	}
	return NULL;
}
