/*
 * fuzz_config.c - libFuzzer target: the input is an agent config.
 *
 * config_load_text() runs the input in the Lua sandbox, so every run is
 * bounded by LIMIT_CONFIG_* (core/limits.h): at most 8 MiB of Lua heap,
 * 10M instructions and 2 s, well inside -timeout=10.  A config that loads
 * must print as normalised Lua that loads again to the same text, and as
 * JSON that parses.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "error.h"
#include "json.h"
#include "strbuf.h"
#include "value.h"

#define NAME "/nonexistent/fuzz/agent.lua"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct strbuf lua = STRBUF_INIT, again = STRBUF_INIT, json = STRBUF_INIT;
	struct config *cfg = NULL, *cfg2 = NULL;
	struct value *v = NULL;

	if (config_load_text(&cfg, NAME, (const char *)data, size)) {
		/* Every failure carries a message. */
		if (!error_message()[0])
			abort();
		return 0;
	}
	config_format_lua(&lua, cfg);
	if (config_load_text(&cfg2, NAME, lua.buf, lua.len)) {
		fprintf(stderr, "normalised config does not load: %s\n%s\n",
			error_message(), lua.buf);
		abort();
	}
	config_format_lua(&again, cfg2);
	if (strcmp(lua.buf, again.buf)) {
		fprintf(stderr, "normalised config is not a fixed point:\n"
			"%s\n---\n%s\n", lua.buf, again.buf);
		abort();
	}
	config_format_json(&json, cfg);
	if (json_parse(&v, "normalised.json", json.buf, json.len, 1u << 20)) {
		fprintf(stderr, "normalised JSON does not parse: %s\n%s\n",
			error_message(), json.buf);
		abort();
	}
	value_free(v);
	config_free(cfg);
	config_free(cfg2);
	strbuf_release(&lua);
	strbuf_release(&again);
	strbuf_release(&json);
	return 0;
}
