/*
 * cmd_verify.c - `furrow verify [REV]`: the auditor's view of a fetched
 * commit: who signed it, and who signed each policy file it loads.
 */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "config.h"
#include "error.h"
#include "sync.h"
#include "banned.h"

static int verify_help(void)
{
	fputs("usage: furrow [-c FILE] verify [REV] [--json]\n\n"
	      "Check a fetched commit without fetching or recording anything:\n"
	      "its SSH signature against trust.commit_signers, and the detached\n"
	      "signature (FILE.sig, namespace furrow-policy) of each policy file\n"
	      "its furrow.lua loads, against trust.policy_signers.  REV is a full\n"
	      "commit id; default: the commit fetched last.\n\n"
	      "Exit: 0 verified, 1 error, 3 verification failed.\n", stdout);
	return EXIT_OK;
}

int cmd_verify(struct cmd_context *ctx, int argc, char **argv)
{
	struct config *cfg = NULL;
	const char *rev = NULL;
	struct sync_result r;
	int json = 0, ret, code;

	for (int i = 1; i < argc; i++) {
		if (cmd_is_help(argv[i]))
			return verify_help();
		else if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (argv[i][0] != '-' && !rev)
			rev = argv[i];
		else
			return cmd_usage_error("verify", "unknown argument '%s'",
					       argv[i]);
	}
	if ((code = cmd_load_config(ctx, &cfg)))
		return code;
	ret = sync_inspect(&r, cfg, rev);
	if (ret) {
		cmd_error(ret == FURROW_EVERIFY ? "verification failed" : NULL);
		code = cmd_exit_for(ret);
	} else {
		cmd_print_sync(&r, json, "verified");
		code = EXIT_OK;
	}
	sync_result_release(&r);
	config_free(cfg);
	return code;
}
