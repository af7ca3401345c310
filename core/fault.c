/*
 * fault.c - FURROW_CRASH_AT fault points (see fault.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fault.h"
#include "banned.h"

/* Long enough for any step name furrow uses; a longer one never matches. */
#define FAULT_STEP_MAX 64

static struct {
	int loaded;
	int armed;
	char step[FAULT_STEP_MAX];
	unsigned long want;   /* crash on this hit */
	unsigned long hits;   /* of step so far */
} fault;

/* Write all of s to stderr, unbuffered; best effort. */
static void fault_say(const char *s)
{
	size_t len = strlen(s);
	ssize_t n;

	while (len > 0) {
		n = write(STDERR_FILENO, s, len);
		if (n <= 0)
			return;
		s += n;
		len -= (size_t)n;
	}
}

static void fault_load(void)
{
	const char *v = getenv("FURROW_CRASH_AT"), *colon;
	char line[FAULT_STEP_MAX + 96];
	unsigned long n = 1;
	size_t len;
	char *end;

	fault.loaded = 1;
	fault.armed = 0;
	fault.hits = 0;
	if (!v || !*v)
		return;
	colon = strchr(v, ':');
	len = colon ? (size_t)(colon - v) : strlen(v);
	if (colon) {
		n = strtoul(colon + 1, &end, 10);
		if (colon[1] < '0' || colon[1] > '9' || *end || n == 0)
			len = 0;
	}
	if (len == 0 || len >= sizeof(fault.step)) {
		snprintf(line, sizeof(line), "furrow: ignoring malformed "
			 "FURROW_CRASH_AT (want <step> or <step>:<n>, n >= 1)\n");
		fault_say(line);
		return;
	}
	memcpy(fault.step, v, len);
	fault.step[len] = '\0';
	fault.want = n;
	fault.armed = 1;
}

void fault_point(const char *step)
{
	char line[FAULT_STEP_MAX + 64];

	if (!fault.loaded)
		fault_load();
	if (!fault.armed || strcmp(step, fault.step) != 0)
		return;
	if (++fault.hits != fault.want)
		return;
	snprintf(line, sizeof(line), "furrow: fault point %s:%lu\n",
		 fault.step, fault.want);
	fault_say(line);
	_exit(FAULT_EXIT_CODE);
}

void fault_reload(void)
{
	fault.loaded = 0;
}
