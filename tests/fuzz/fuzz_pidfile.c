/*
 * fuzz_pidfile.c - libFuzzer target: the pid file parser (a service's
 * "<pid> <start time>\n", read back after a furrow restart).  Whatever
 * parses must print back to the same text.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "supervise.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proc_id id;
	char text[64], back[64];

	if (size >= sizeof(text) || memchr(data, 0, size))
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	if (supervise_parse_pid(&id, text) == 0) {
		snprintf(back, sizeof(back), "%d %llu\n", (int)id.pid,
			 id.start_time);
		if (id.pid <= 1 || strcmp(back, text))
			abort();
	}
	return 0;
}
