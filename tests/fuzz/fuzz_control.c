/*
 * fuzz_control.c - libFuzzer target: the control socket's request parser
 * on any line a local client could send.  What parses names a known verb
 * and, for rollback, backup and drill, a well-formed app name.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "limits.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct control_request req;
	char line[LIMIT_CONTROL_LINE_BYTES + 1], why[256];

	if (size > LIMIT_CONTROL_LINE_BYTES || memchr(data, 0, size))
		return 0;
	memcpy(line, data, size);
	line[size] = 0;
	memset(&req, 0, sizeof(req));
	if (control_parse_request(&req, line, why, sizeof(why)) == 0) {
		int with_app = !strcmp(req.verb, "rollback") ||
			       !strcmp(req.verb, "backup") ||
			       !strcmp(req.verb, "drill");

		if (!with_app && strcmp(req.verb, "ping") &&
		    strcmp(req.verb, "sync-now"))
			abort();
		if (with_app != (req.arg[0] != 0) ||
		    strspn(req.arg, "abcdefghijklmnopqrstuvwxyz0123456789_.-") !=
		    strlen(req.arg) || strlen(req.arg) > 63)
			abort();
	}
	return 0;
}
