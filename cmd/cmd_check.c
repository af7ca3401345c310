/*
 * cmd_check.c - `furrow check [--json]`: load and validate the agent
 * config and print it normalised (defaults filled in, paths absolute).
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "error.h"
#include "strbuf.h"
#include "cmd.h"
#include "banned.h"

static int check_help(void)
{
	fputs("usage: furrow [-c FILE] check [--json] [--quiet]\n\n"
	      "Validate the agent config and print it normalised: every key,\n"
	      "defaults filled in, relative paths made absolute.  Errors name\n"
	      "the file, the line and the key.  Exit 0 if valid, 1 if not.\n"
	      "\n"
	      "  --json    print the normalised config as JSON\n"
	      "  --quiet   print nothing on success\n", stdout);
	return EXIT_OK;
}

int cmd_check(struct cmd_context *ctx, int argc, char **argv)
{
	struct strbuf sb = STRBUF_INIT;
	struct config *cfg = NULL;
	const char *path;
	int json = 0, quiet = 0;

	for (int i = 1; i < argc; i++) {
		if (cmd_is_help(argv[i]))
			return check_help();
		else if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (!strcmp(argv[i], "--quiet") || !strcmp(argv[i], "-q"))
			quiet = 1;
		else
			return cmd_usage_error("check", "unknown argument '%s'",
					       argv[i]);
	}
	path = config_choose_path(ctx->config_path);
	if (config_load(&cfg, path)) {
		cmd_error(NULL);
		return EXIT_FAILURE_;
	}
	if (!quiet) {
		if (json)
			config_format_json(&sb, cfg);
		else
			config_format_lua(&sb, cfg);
		fwrite(sb.buf, 1, sb.len, stdout);
	}
	strbuf_release(&sb);
	config_free(cfg);
	return EXIT_OK;
}
