/*
 * cmd_check.c - `furrow check [--json]`: load and validate the agent
 * config and print it normalised (defaults filled in, paths absolute).
 */
#include <stdio.h>
#include <string.h>

#include "appspec.h"
#include "config.h"
#include "desired.h"
#include "error.h"
#include "limits.h"
#include "strbuf.h"
#include "cmd.h"
#include "banned.h"

static int check_help(void)
{
	fputs("usage: furrow [-c FILE] check [--json] [--quiet]\n"
	      "       furrow check --tree DIR [--quiet]\n\n"
	      "Validate the agent config and print it normalised: every key,\n"
	      "defaults filled in, relative paths made absolute.  Errors name\n"
	      "the file, the line and the key.  Exit 0 if valid, 1 if not.\n"
	      "\n"
	      "With --tree, validate a desired-state working tree offline instead\n"
	      "(no agent config needed): evaluate DIR/furrow.lua, check every app\n"
	      "against the app schema and that each repository policy file and its\n"
	      ".sig exist; print the serial, the policies and the apps in the order\n"
	      "they would be applied.  Signatures are checked by furrow sync and\n"
	      "furrow verify, not here.\n"
	      "\n"
	      "  --json    print the normalised config as JSON\n"
	      "  --quiet   print nothing on success\n", stdout);
	return EXIT_OK;
}

/* Read DIR/path, refusing what the repository reader would refuse. */
static int read_tree_file(struct strbuf *sb, const char *dir, const char *path)
{
	struct strbuf full = STRBUF_INIT;
	int ret;

	strbuf_addf(&full, "%s/%s", dir, path);
	ret = strbuf_read_file(sb, full.buf, LIMIT_DESIRED_FILE_BYTES);
	strbuf_release(&full);
	return ret;
}

static int check_tree(const char *dir, int quiet)
{
	struct strbuf text = STRBUF_INIT, sig = STRBUF_INIT, sb = STRBUF_INIT;
	struct desired_summary *sum = NULL;
	struct appspec_list *apps = NULL;
	int ret;

	if ((ret = read_tree_file(&text, dir, "furrow.lua")) ||
	    (ret = desired_summary_load(&sum, "furrow.lua", text.buf, text.len)) ||
	    (ret = appspec_parse_all(&apps, "furrow.lua", sum)))
		goto out;
	for (size_t i = 0; i < sum->policy_count; i++) {
		const char *name = sum->policies[i].name;

		if (!desired_policy_is_repo_file(&sum->policies[i]))
			continue;
		strbuf_reset(&text);
		strbuf_reset(&sig);
		strbuf_addf(&sig, "%s.sig", name);
		if ((ret = read_tree_file(&text, dir, name)) ||
		    (ret = read_tree_file(&text, dir, sig.buf))) {
			ret = error_prefix(ret, "furrow.lua: policy %s", name);
			goto out;
		}
	}
	if (sum->has_serial)
		strbuf_addf(&sb, "serial   %lld\n", sum->serial);
	else
		strbuf_addstr(&sb, "serial   (none: counts as 0)\n");
	for (size_t i = 0; i < sum->policy_count; i++)
		strbuf_addf(&sb, "policy   %s\n", sum->policies[i].name);
	for (size_t i = 0; i < apps->count; i++)
		strbuf_addf(&sb, "app      %s (%s)\n", apps->apps[i]->name,
			    appspec_kind_name(apps->apps[i]->kind));
	if (!quiet)
		fwrite(sb.buf, 1, sb.len, stdout);
out:
	appspec_list_free(apps);
	desired_summary_free(sum);
	strbuf_release(&text);
	strbuf_release(&sig);
	strbuf_release(&sb);
	if (ret)
		cmd_error(NULL);
	return ret ? EXIT_FAILURE_ : EXIT_OK;
}

int cmd_check(struct cmd_context *ctx, int argc, char **argv)
{
	struct strbuf sb = STRBUF_INIT;
	struct config *cfg = NULL;
	const char *path, *tree = NULL;
	int json = 0, quiet = 0;

	for (int i = 1; i < argc; i++) {
		if (cmd_is_help(argv[i]))
			return check_help();
		else if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (!strcmp(argv[i], "--quiet") || !strcmp(argv[i], "-q"))
			quiet = 1;
		else if (!strcmp(argv[i], "--tree") && i + 1 < argc)
			tree = argv[++i];
		else
			return cmd_usage_error("check", "unknown argument '%s'",
					       argv[i]);
	}
	if (tree)
		return check_tree(tree, quiet);
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
