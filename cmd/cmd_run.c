/*
 * cmd_run.c - `furrow run`: the daemon (core/agent.h).
 */
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "cmd.h"
#include "config.h"
#include "error.h"
#include "banned.h"

static int run_help(void)
{
	fputs("usage: furrow [-c FILE] run [--once]\n\n"
	      "The agent: a pass (like `furrow apply`) at start and then every\n"
	      "source.interval seconds (jittered by source.jitter); supervised\n"
	      "services that exit are restarted with backoff in between.\n"
	      "SIGHUP or `furrow sync --now` runs a pass at once; `furrow\n"
	      "rollback APP` is served through STATE_DIR/control.sock (0600).\n"
	      "SIGTERM/SIGINT finish the current step and exit 0; services keep\n"
	      "running and are re-adopted by the next furrow.  With\n"
	      "NOTIFY_SOCKET set, READY=1 is sent after the first pass.\n\n"
	      "  --once   exit after the first pass\n\n"
	      "Exit: 0 stopped by a signal (or --once), 1 could not start (the\n"
	      "state directory is locked by another furrow, ...).\n", stdout);
	return EXIT_OK;
}

int cmd_run(struct cmd_context *ctx, int argc, char **argv)
{
	struct agent_options o = { 0 };
	struct config *cfg = NULL;
	int code;

	for (int i = 1; i < argc; i++) {
		if (cmd_is_help(argv[i]))
			return run_help();
		else if (!strcmp(argv[i], "--once"))
			o.once = 1;
		else
			return cmd_usage_error("run", "unknown argument '%s'",
					       argv[i]);
	}
	if ((code = cmd_load_config(ctx, &cfg)))
		return code;
	if (agent_run(cfg, &o)) {
		cmd_error(NULL);
		code = EXIT_FAILURE_;
	}
	config_free(cfg);
	return code;
}
