/*
 * fuzz_commitsig.c - libFuzzer target for the commit signature header
 * splitter and the committer time reader (core/commitsig.c).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "commitsig.h"
#include "strbuf.h"
#include "banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct strbuf payload = STRBUF_INIT, signature = STRBUF_INIT;
	int64_t t;

	if (commitsig_split(&payload, &signature, (const char *)data,
			    size) == 0) {
		/* Nothing is invented: both parts come from the input. */
		if (payload.len + signature.len > size)
			__builtin_trap();
	}
	(void)commitsig_committer_time(&t, (const char *)data, size);
	strbuf_release(&payload);
	strbuf_release(&signature);
	return 0;
}
