/*
 * fuzz_allowed_signers.c - libFuzzer target for the allowed_signers
 * parser and lookup (core/allowed_signers.c).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "allowed_signers.h"
#include "banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct allowed_signer *e;
	struct allowed_signers *as = NULL;
	size_t i;

	if (allowed_signers_parse(&as, "fuzz", (const char *)data, size) < 0)
		return 0;
	/* Look every entry's own key up, in both namespaces and at a few
	 * times, so the matching code sees what the parser produced. */
	for (i = 0; i < as->n && i < 16; i++) {
		(void)allowed_signers_find(&e, as, as->v[i].key,
					   as->v[i].key_len, "git", 1700000000);
		(void)allowed_signers_find(&e, as, as->v[i].key,
					   as->v[i].key_len, "furrow-policy", 0);
		(void)allowed_signers_match_list(as->v[i].principals,
						 as->v[i].principals);
	}
	allowed_signers_free(as);
	return 0;
}
