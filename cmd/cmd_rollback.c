/*
 * cmd_rollback.c - `furrow rollback APP`: switch an app to its other
 * slot by hand, directly or through a running daemon.
 */
#include <stdio.h>
#include <string.h>

#include "apply.h"
#include "cmd.h"
#include "config.h"
#include "control.h"
#include "error.h"
#include "store.h"
#include "strbuf.h"
#include "banned.h"

/* A rollback waits for a health check; allow it plenty. */
#define ROLLBACK_WAIT_MS (30u * 60 * 1000)

static int rollback_help(void)
{
	fputs("usage: furrow [-c FILE] rollback APP\n\n"
	      "Switch APP to its other slot - the version it ran before - by the\n"
	      "same steps as an update: start it, health-check it, switch, stop\n"
	      "the current one.  The version left is held: the next pass does not\n"
	      "apply it again until a new commit (or apply.retry_failed).  With\n"
	      "a daemon running, the request goes through its control socket.\n\n"
	      "Exit: 0 rolled back, 1 error (nothing to roll back to, health\n"
	      "check failed: the app stays where it was).\n", stdout);
	return EXIT_OK;
}

int cmd_rollback(struct cmd_context *ctx, int argc, char **argv)
{
	struct strbuf reply = STRBUF_INIT;
	struct config *cfg = NULL;
	struct store *st = NULL;
	const char *app = NULL;
	int code, ret, ok = 0;

	for (int i = 1; i < argc; i++) {
		if (cmd_is_help(argv[i]))
			return rollback_help();
		else if (argv[i][0] == '-' || app)
			return cmd_usage_error("rollback", "unknown argument "
					       "'%s'", argv[i]);
		else
			app = argv[i];
	}
	if (!app)
		return cmd_usage_error("rollback", "which app?");
	if ((code = cmd_load_config(ctx, &cfg)))
		return code;
	ret = store_open(&st, cfg->state_dir, NULL);
	if (ret == FURROW_EBUSY) {
		/* A daemon holds the store: ask it. */
		ret = control_request(cfg->state_dir, "rollback", app,
				      ROLLBACK_WAIT_MS, &reply, &ok);
		if (!ret && !ok)
			ret = error_set(FURROW_ERR, "%s", reply.buf);
		else if (ret == FURROW_ETIMEOUT)
			error_prefix(ret, "the daemon did not answer in time; "
				     "the rollback may still be in progress "
				     "(see furrow status)");
	} else if (!ret) {
		ret = apply_rollback(cfg, st, app);
	}
	if (ret) {
		cmd_error(NULL);
		code = cmd_exit_for(ret);
	} else {
		printf("%s: rolled back\n", app);
		code = EXIT_OK;
	}
	strbuf_release(&reply);
	store_free(st);
	config_free(cfg);
	return code;
}
