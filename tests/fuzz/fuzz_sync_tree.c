/*
 * fuzz_sync_tree.c - libFuzzer target: the parent's half of reading an
 * app's files (sync_tree_decode()) on whatever a compromised read child
 * could send: a valuecodec frame, decoded, then checked.  What passes
 * must hold only safe paths, modes 0644/0755, within the caps.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "limits.h"
#include "repopath.h"
#include "sync_tree.h"
#include "value.h"
#include "valuecodec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tree_files t;
	struct value *v = NULL;

	if (valuecodec_decode(&v, "fuzz", data, size)) {
		error_clear();
		return 0;
	}
	if (sync_tree_decode(&t, v, "apps/x") == 0) {
		size_t bytes = 0;

		if (t.count > LIMIT_TREE_FILES)
			abort();
		for (size_t i = 0; i < t.count; i++) {
			if (repopath_check(t.files[i].path) ||
			    (t.files[i].mode != 0644 && t.files[i].mode != 0755))
				abort();
			if (i && strcmp(t.files[i - 1].path, t.files[i].path) >= 0)
				abort();
			bytes += t.files[i].len;
		}
		if (bytes != t.bytes || bytes > LIMIT_TREE_BYTES)
			abort();
	}
	error_clear();
	tree_files_release(&t);
	value_free(v);
	return 0;
}
