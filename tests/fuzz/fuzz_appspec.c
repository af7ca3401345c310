/*
 * fuzz_appspec.c - libFuzzer target: the input is a furrow.lua whose
 * apps are validated.
 *
 * Like fuzz_desired.c, the text runs in-process (sandbox_eval_program()
 * with the embedded prelude, then desired_summary_from_value()) rather
 * than in a forked child, at caps low enough that a looping input costs
 * well under a second; then appspec_parse_all() checks every app.  The
 * seeds in corpus/fuzz_appspec/ hold valid apps of each kind, so the
 * mutations land in the schema rather than in Lua syntax.
 *
 * Checked on every input: a failure carries a message and no list; a
 * list holds every declared app once, each after the apps it depends on,
 * with the fields appspec.h promises for its kind; a second parse gives
 * the same order; selection against fixed labels does not crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "appspec.h"
#include "config.h"
#include "desired.h"
#include "error.h"
#include "limits.h"
#include "sandbox.h"
#include "value.h"

#define NAME "furrow.lua"

static const struct sandbox_limits fuzz_limits = {
	16u * 1024 * 1024, 5000000ul, 1000u,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__asan_default_options(void);

const char *__asan_default_options(void)
{
	/* See fuzz_desired.c: memory bombs otherwise outgrow -rss_limit_mb. */
	return "quarantine_size_mb=64:allocator_release_to_os_interval_ms=500";
}

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

static size_t position(const struct appspec_list *l, const char *name)
{
	for (size_t i = 0; i < l->count; i++)
		if (!strcmp(l->apps[i]->name, name))
			return i;
	abort();
}

static void check_app(const struct appspec *a)
{
	switch (a->kind) {
	case APPSPEC_CONTAINER:
		if (!a->image)
			abort();
		break;
	case APPSPEC_SERVICE:
		if (!a->files || !a->exec.argc || a->exec.argv[a->exec.argc])
			abort();
		break;
	case APPSPEC_SYSTEMD:
		if (!a->unit)
			abort();
		break;
	case APPSPEC_FILES:
		if (!a->files || !a->target || a->target[0] != '/')
			abort();
		break;
	default:
		abort();
	}
	if (a->env_count > LIMIT_APP_ENV || a->port_count > LIMIT_APP_PORTS ||
	    a->exec.argc > LIMIT_APP_EXEC_ARGS ||
	    a->depends_count > LIMIT_APP_DEPENDS ||
	    a->secret_count > LIMIT_APP_SECRETS ||
	    a->on_count > LIMIT_APP_SELECTOR)
		abort();
	for (size_t i = 0; i < a->port_count; i++)
		if (!a->ports[i].host_port || a->ports[i].host_port > 65535 ||
		    !a->ports[i].container_port)
			abort();
	if (a->health.kind == APPSPEC_HEALTH_HTTP ? !a->health.http :
	    a->health.kind == APPSPEC_HEALTH_TCP ? !a->health.tcp :
	    a->health.kind == APPSPEC_HEALTH_EXEC ? !a->health.exec.argc : 0)
		abort();
	if (!(a->health.interval > 0) || !(a->health.timeout > 0) ||
	    a->health.settle < 0)
		abort();
	if (a->backup.enabled && (!a->backup.path_count ||
				  a->backup.every <= 0 || a->backup.keep < 1))
		abort();
	if (a->image_digest && strlen(a->image_digest) != 71)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct config_label labels[] = {
		{ (char *)"role", (char *)"gateway" },
		{ (char *)"site", (char *)"pune" },
	};
	struct desired_summary *sum = NULL;
	struct appspec_list *a = (struct appspec_list *)1, *b = NULL;

	error_clear();
	if (summarise(&sum, data, size))
		return 0;
	if (appspec_parse_all(&a, NAME, sum)) {
		if (!error_message()[0] || a)
			abort();
		desired_summary_free(sum);
		return 0;
	}
	if (a->count != sum->app_count)
		abort();
	for (size_t i = 0; i < a->count; i++) {
		const struct appspec *app = a->apps[i];

		check_app(app);
		for (size_t j = 0; j < app->depends_count; j++)
			if (position(a, app->depends_on[j]) >= i)
				abort();
		(void)appspec_selected(app, labels, 2);
	}
	if (appspec_parse_all(&b, NAME, sum)) {
		fprintf(stderr, "second parse failed: %s\n", error_message());
		abort();
	}
	for (size_t i = 0; i < a->count; i++)
		if (strcmp(a->apps[i]->name, b->apps[i]->name))
			abort();
	appspec_list_free(a);
	appspec_list_free(b);
	desired_summary_free(sum);
	return 0;
}
