/*
 * main.c - furrow's entry point: global options, the command table,
 * and the rule that a command whose output could not be written fails.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "config.h"
#include "error.h"
#include "log.h"
#include "banned.h"

const struct command commands[] = {
	{ "apply", cmd_apply, "one pass: sync, verify, plan, apply through the A/B slots" },
	{ "check", cmd_check, "validate the agent config and print it normalised" },
	{ "history", cmd_history, "deployments, rollbacks and drift repairs" },
	{ "plan", cmd_plan, "show what an apply would change and what the policies say" },
	{ "rollback", cmd_rollback, "switch an app back to its other slot" },
	{ "backup", cmd_backup, "snapshots of app data: now, list, verify, restore, drill, prune" },
	{ "run", cmd_run, "the daemon: a pass every interval, control socket, signals" },
	{ "status", cmd_status, "the accepted commit, its freshness, each app's slot and health" },
	{ "sync", cmd_sync, "fetch and verify the desired state once" },
	{ "verify", cmd_verify, "check the signatures of a fetched commit (auditor's view)" },
	{ "version", cmd_version, "print versions of furrow and its libraries" },
	{ NULL, NULL, NULL },
};

static void usage(FILE *out)
{
	fputs("usage: furrow [-c FILE] [--log-format=logfmt|json] "
	      "[--log-level=LEVEL] COMMAND [ARGS]\n"
	      "\n"
	      "GitOps agent: follows a signed Git repository of desired state.\n"
	      "\n"
	      "Options:\n"
	      "  -c, --config FILE    agent config (default: $FURROW_CONFIG, "
	      "else /etc/furrow/agent.lua)\n"
	      "  --log-format FORMAT  logfmt (default) or json, on stderr\n"
	      "  --log-level LEVEL    debug, info (default), warn or error\n"
	      "  -h, --help           this help; COMMAND --help for a command's\n"
	      "\n"
	      "Commands:\n", out);
	for (const struct command *c = commands; c->name; c++)
		fprintf(out, "  %-9s %s\n", c->name, c->summary);
	fputs("\nExit codes: 0 ok, 1 error, 2 usage, 3 verification failed,\n"
	      "4 policy denied or deferred, 5 update failed and rolled back.\n",
	      out);
}

void cmd_error(const char *context)
{
	const char *msg = error_message();

	if (context)
		fprintf(stderr, "furrow: %s: %s\n", context, *msg ? msg : "failed");
	else
		fprintf(stderr, "furrow: %s\n", *msg ? msg : "failed");
}

int cmd_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "furrow%s%s: ", cmd ? " " : "", cmd ? cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'furrow %s%s--help'.\n", cmd ? cmd : "",
		cmd ? " " : "");
	return EXIT_USAGE;
}

int cmd_load_config(struct cmd_context *ctx, struct config **out)
{
	if (config_load(out, config_choose_path(ctx->config_path))) {
		cmd_error(NULL);
		return EXIT_FAILURE_;
	}
	if (!ctx->log_from_cli)
		log_setup((enum log_format)(*out)->log.format,
			  (enum log_level)(*out)->log.level);
	return 0;
}

int cmd_exit_for(int code)
{
	if (code == FURROW_EVERIFY)
		return EXIT_VERIFY;
	return code ? EXIT_FAILURE_ : EXIT_OK;
}

void cmd_json_str(struct strbuf *sb, const char *key, const char *s, int first)
{
	if (!first)
		strbuf_addch(sb, ',');
	strbuf_add_json_string(sb, key, strlen(key));
	strbuf_addch(sb, ':');
	if (s)
		strbuf_add_json_string(sb, s, strlen(s));
	else
		strbuf_addstr(sb, "null");
}

int cmd_is_help(const char *arg)
{
	return !strcmp(arg, "-h") || !strcmp(arg, "--help");
}

/* Accepts "--opt=VALUE" and "--opt VALUE"; *i advances past a value. */
static const char *option_value(int argc, char **argv, int *i,
				const char *name)
{
	size_t n = strlen(name);

	if (!strncmp(argv[*i], name, n) && argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (!strcmp(argv[*i], name) && *i + 1 < argc)
		return argv[++*i];
	return NULL;
}

/* After the command: a failed write to stdout (full disk, closed pipe)
 * must not look like success. */
static int finish_stdout(int code)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "furrow: cannot write to standard output: %s\n",
			strerror(errno ? errno : EIO));
		return code ? code : EXIT_FAILURE_;
	}
	return code;
}

int main(int argc, char **argv)
{
	struct cmd_context ctx = { NULL, argv[0], 0 };
	const char *v;
	int i, fmt = LOG_FORMAT_LOGFMT, lvl = LOG_INFO;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (cmd_is_help(argv[i])) {
			usage(stdout);
			return finish_stdout(EXIT_OK);
		} else if (!strcmp(argv[i], "--version")) {
			return finish_stdout(cmd_version(&ctx, 0, argv + i));
		} else if ((v = option_value(argc, argv, &i, "-c")) ||
			   (v = option_value(argc, argv, &i, "--config"))) {
			ctx.config_path = v;
		} else if ((v = option_value(argc, argv, &i, "--log-format"))) {
			fmt = log_format_parse(v);
			ctx.log_from_cli = 1;
			if (fmt < 0)
				return cmd_usage_error(NULL, "--log-format: "
					"\"%s\" is not logfmt or json", v);
		} else if ((v = option_value(argc, argv, &i, "--log-level"))) {
			lvl = log_level_parse(v);
			ctx.log_from_cli = 1;
			if (lvl < 0)
				return cmd_usage_error(NULL, "--log-level: "
					"\"%s\" is not debug, info, warn or "
					"error", v);
		} else {
			return cmd_usage_error(NULL, "unknown option '%s' (or "
					       "missing value)", argv[i]);
		}
	}
	log_setup((enum log_format)fmt, (enum log_level)lvl);
	if (i >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (const struct command *c = commands; c->name; c++)
		if (!strcmp(c->name, argv[i]))
			return finish_stdout(c->fn(&ctx, argc - i, argv + i));
	return cmd_usage_error(NULL, "'%s' is not a furrow command", argv[i]);
}
