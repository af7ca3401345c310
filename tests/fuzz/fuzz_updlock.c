/*
 * fuzz_updlock.c - libFuzzer target: the update lock parser on any bytes
 * an app could write into its lock file (at most LIMIT_UPDLOCK_BYTES).
 * A parsed lock's reason must be a NUL-terminated string without control
 * characters, within its cap.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "limits.h"
#include "updlock.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct updlock l;

	if (size > LIMIT_UPDLOCK_BYTES)
		return 0;
	memset(&l, 0, sizeof(l));
	if (!updlock_parse(&l, (const char *)data, size, 1795758000)) {
		size_t n = strnlen(l.reason, sizeof(l.reason));

		if (n == sizeof(l.reason) || n > LIMIT_UPDLOCK_REASON_BYTES)
			abort();
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)l.reason[i] < 0x20 || l.reason[i] == 0x7f)
				abort();
		if (l.held != (l.until > 1795758000) || l.until < 0)
			abort();
	}
	return 0;
}
