/*
 * fuzz_bundle_header.c - libFuzzer target for the git bundle header
 * parser (core/bundle.c) and the tree path rules (core/repopath.c): both
 * see untrusted input before libgit2 does.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bug.h"
#include "bundle.h"
#include "limits.h"
#include "repopath.h"
#include "banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bundle_header h;
	char *path;

	if (bundle_header_parse(&h, (const char *)data, size) == 0) {
		/* Whatever parsed must hold together. */
		if (!h.ref_count || h.pack_offset > size || (h.version != 2 && h.version != 3))
			abort();
		for (size_t i = 0; i < h.ref_count; i++)
			if (strlen(h.refs[i].oid) != BUNDLE_OID_HEX ||
			    bundle_header_find(&h, h.refs[i].name) == NULL)
				abort();
	}
	bundle_header_release(&h);

	path = xstrndup((const char *)data, size < 2048 ? size : 2048);
	if (repopath_check(path) == 0) {
		const char *p = path;
		size_t len, n = 0;

		if (path[0] == '/' || strstr(path, "//") || strchr(path, '\\'))
			abort();
		while (repopath_next(&p, &len)) {
			if (!len || (len == 2 && !memcmp(p, "..", 2)))
				abort();
			p += len;
			n++;
		}
		if (!n || n > LIMIT_GIT_PATH_DEPTH)
			abort();
	}
	free(path);
	return 0;
}
