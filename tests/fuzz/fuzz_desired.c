/*
 * fuzz_desired.c - libFuzzer target: the input is a furrow.lua.
 *
 * desired_summary_load() forks a child for every evaluation, which would
 * make fuzzing crawl; this target runs the same program in-process
 * (sandbox_eval_program() with the embedded prelude, then
 * desired_summary_from_value()), so the prelude, the sandbox and the
 * summary reader are all exercised.  The caps are lower than
 * LIMIT_DESIRED_* so that a looping input costs well under a second, far
 * inside -timeout=10; the limits themselves are tested in
 * tests/unit/test_desired.c.
 *
 * Memory bombs run every Lua heap up to its cap hundreds of times a
 * second.  Nothing leaks, but the blocks ASan holds in quarantine and in
 * its per-size caches pushed the process past smoke.sh's
 * -rss_limit_mb=1024 within a minute; a smaller quarantine and returning
 * freed pages to the system keep it well below.
 *
 * Checked on every input: a failure carries a message; a summary obeys
 * what desired.h promises (serial >= 0, counts within the limits, policy
 * names std: or .lua paths, options tables); and a second evaluation of
 * the same input gives the same summary.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "desired.h"
#include "error.h"
#include "limits.h"
#include "repopath.h"
#include "sandbox.h"
#include "strbuf.h"
#include "value.h"

#define NAME "furrow.lua"

static const struct sandbox_limits fuzz_limits = {
	16u * 1024 * 1024, 5000000ul, 1000u,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__asan_default_options(void);

const char *__asan_default_options(void)
{
	return "quarantine_size_mb=64:allocator_release_to_os_interval_ms=500";
}

/* Evaluate and summarise; 0 and *out, or an error with a message. */
static int summarise(struct desired_summary **out, const uint8_t *data,
		     size_t size)
{
	struct value *root = NULL;
	const char *prelude;
	size_t plen;
	int ret;

	*out = NULL;
	prelude = desired_prelude(&plen);
	ret = sandbox_eval_program(&root, DESIRED_PRELUDE_NAME, prelude, plen,
				   NAME, (const char *)data, size, NULL,
				   &fuzz_limits);
	if (!ret)
		ret = desired_summary_from_value(out, NAME, root);
	value_free(root);
	return ret;
}

static void check(const struct desired_summary *s)
{
	if (s->has_serial ? s->serial < 0 : s->serial != 0)
		abort();
	if (s->policy_count > LIMIT_DESIRED_POLICIES ||
	    s->app_count > LIMIT_DESIRED_APPS)
		abort();
	for (size_t i = 0; i < s->policy_count; i++) {
		const struct desired_policy *p = &s->policies[i];
		size_t n = strlen(p->name);

		if (!p->options || p->options->type != VALUE_TABLE)
			abort();
		if (desired_policy_is_repo_file(p) &&
		    (repopath_check(p->name) || n < 5 ||
		     strcmp(p->name + n - 4, ".lua")))
			abort();
	}
	for (size_t i = 0; i < s->app_count; i++)
		if (!s->app_names[i][0] || strlen(s->app_names[i]) > 63)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct desired_summary *a = NULL, *b = NULL;
	struct strbuf ta = STRBUF_INIT, tb = STRBUF_INIT;

	error_clear();
	if (summarise(&a, data, size)) {
		if (!error_message()[0])
			abort();
		return 0;
	}
	check(a);
	if (summarise(&b, data, size)) {
		fprintf(stderr, "second evaluation failed: %s\n",
			error_message());
		abort();
	}
	desired_summary_format(&ta, a);
	desired_summary_format(&tb, b);
	if (strcmp(ta.buf, tb.buf)) {
		fprintf(stderr, "not deterministic:\n%s\n---\n%s\n", ta.buf,
			tb.buf);
		abort();
	}
	strbuf_release(&ta);
	strbuf_release(&tb);
	desired_summary_free(a);
	desired_summary_free(b);
	return 0;
}
