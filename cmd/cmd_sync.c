/*
 * cmd_sync.c - `furrow sync`: fetch the desired state once, verify it
 * (signature, ancestry, serial, policy signatures) and record it as
 * accepted.  Also prints the result, shared with `furrow verify`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "control.h"
#include "config.h"
#include "error.h"
#include "store.h"
#include "strbuf.h"
#include "sync.h"
#include "banned.h"

static int sync_help(void)
{
	fputs("usage: furrow [-c FILE] sync [--bundle FILE] [--wait SECONDS]\n"
	      "                          [--allow-downgrade] [--json]\n"
	      "       furrow [-c FILE] sync --now\n\n"
	      "Fetch source.ref once and verify the commit: its SSH signature\n"
	      "against trust.commit_signers, that it descends from the commit\n"
	      "accepted before, that its serial is not lower, and the detached\n"
	      "signature of every policy file it loads.  Prints the commit, its\n"
	      "signer (principal and key fingerprint) and serial.\n\n"
	      "  --bundle FILE      import a `git bundle` (offline sideload) instead\n"
	      "                     of fetching; same verification\n"
	      "  --wait SECONDS     retry a failed fetch with backoff this long\n"
	      "  --allow-downgrade  accept a commit that does not descend from the\n"
	      "                     accepted one, or has a lower serial (deliberate\n"
	      "                     downgrade by an operator on this host)\n"
	      "  --json             print the result as JSON\n"
	      "  --now              ask the running daemon (`furrow run`) for a\n"
	      "                     pass at once, through its control socket\n\n"
	      "Exit: 0 accepted, 1 error (fetch, I/O), 3 verification failed.\n",
	      stdout);
	return EXIT_OK;
}

void cmd_print_sync(const struct sync_result *r, int json, const char *verdict)
{
	struct strbuf sb = STRBUF_INIT;

	if (json) {
		strbuf_addch(&sb, '{');
		cmd_json_str(&sb, "commit", r->commit, 1);
		cmd_json_str(&sb, "previous", r->previous[0] ? r->previous : NULL, 0);
		cmd_json_str(&sb, "result", verdict, 0);
		strbuf_addf(&sb, ",\"changed\":%s,\"downgrade\":%s,"
			    "\"commit_time\":%lld", r->changed ? "true" : "false",
			    r->downgrade ? "true" : "false",
			    (long long)r->commit_time);
		cmd_json_str(&sb, "summary", r->summary, 0);
		if (r->has_serial)
			strbuf_addf(&sb, ",\"serial\":%lld", r->serial);
		else
			strbuf_addstr(&sb, ",\"serial\":null");
		strbuf_addstr(&sb, ",\"signer\":{");
		cmd_json_str(&sb, "principal", r->signer.principal, 1);
		cmd_json_str(&sb, "key_type", r->signer.key_type, 0);
		cmd_json_str(&sb, "fingerprint", r->signer.fingerprint, 0);
		strbuf_addstr(&sb, "},\"policies\":[");
		for (size_t i = 0; i < r->policy_count; i++) {
			const struct sync_policy *p = &r->policies[i];

			strbuf_addstr(&sb, i ? ",{" : "{");
			cmd_json_str(&sb, "path", p->path, 1);
			strbuf_addf(&sb, ",\"builtin\":%s", p->builtin ? "true" :
				    "false");
			cmd_json_str(&sb, "principal", p->signer.principal, 0);
			cmd_json_str(&sb, "fingerprint", p->signer.fingerprint, 0);
			strbuf_addch(&sb, '}');
		}
		strbuf_addf(&sb, "],\"recovered\":%s}\n",
			    r->recovered ? "true" : "false");
	} else {
		strbuf_addf(&sb, "commit      %s (%s)\n", r->commit, verdict);
		if (r->summary && *r->summary)
			strbuf_addf(&sb, "summary     %s\n", r->summary);
		if (r->signer.principal)
			strbuf_addf(&sb, "signer      %s (%s %s)\n",
				    r->signer.principal, r->signer.key_type,
				    r->signer.fingerprint);
		if (r->has_serial)
			strbuf_addf(&sb, "serial      %lld\n", r->serial);
		else if (r->signer.principal)
			strbuf_addstr(&sb, "serial      (none)\n");
		for (size_t i = 0; i < r->policy_count; i++) {
			const struct sync_policy *p = &r->policies[i];

			if (p->builtin)
				strbuf_addf(&sb, "policy      %s (built in)\n",
					    p->path);
			else if (p->signer.principal)
				strbuf_addf(&sb, "policy      %s signed by %s "
					    "(%s %s)\n", p->path,
					    p->signer.principal,
					    p->signer.key_type,
					    p->signer.fingerprint);
			else
				strbuf_addf(&sb, "policy      %s (not verified)\n",
					    p->path);
		}
		if (r->recovered)
			strbuf_addstr(&sb, "note        the local repository was "
				      "corrupt; it was moved aside and fetched "
				      "again\n");
	}
	fwrite(sb.buf, 1, sb.len, stdout);
	strbuf_release(&sb);
}

/* --now: ask the running daemon for a pass through its control socket. */
static int sync_now(struct config *cfg)
{
	struct strbuf reply = STRBUF_INIT;
	int ok = 0, code = EXIT_OK;

	if (control_request(cfg->state_dir, "sync-now", NULL, 5000, &reply,
			    &ok)) {
		cmd_error(NULL);
		code = EXIT_FAILURE_;
	} else if (!ok) {
		fprintf(stderr, "furrow: the daemon refused: %s\n", reply.buf);
		code = EXIT_FAILURE_;
	} else {
		printf("%s\n", reply.buf);
	}
	strbuf_release(&reply);
	config_free(cfg);
	return code;
}

int cmd_sync(struct cmd_context *ctx, int argc, char **argv)
{
	struct sync_options o = { NULL, 0, 0, 0 };
	struct config *cfg = NULL;
	struct store *st = NULL;
	struct sync_result r;
	int json = 0, now = 0, ret, code;

	for (int i = 1; i < argc; i++) {
		if (cmd_is_help(argv[i]))
			return sync_help();
		else if (!strcmp(argv[i], "--now"))
			now = 1;
		else if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (!strcmp(argv[i], "--allow-downgrade"))
			o.allow_downgrade = 1;
		else if (!strcmp(argv[i], "--bundle") && i + 1 < argc)
			o.bundle = argv[++i];
		else if (!strcmp(argv[i], "--wait") && i + 1 < argc) {
			char *end;
			long v = strtol(argv[++i], &end, 10);

			if (*end || v < 0 || v > 7 * 86400)
				return cmd_usage_error("sync", "--wait: \"%s\" is "
						       "not a number of seconds",
						       argv[i]);
			o.wait_seconds = (unsigned)v;
		} else
			return cmd_usage_error("sync", "unknown argument '%s'",
					       argv[i]);
	}
	o.progress = isatty(2);
	if ((code = cmd_load_config(ctx, &cfg)))
		return code;
	if (now)
		return sync_now(cfg);
	if (store_open(&st, cfg->state_dir, NULL)) {
		cmd_error(NULL);
		config_free(cfg);
		return EXIT_FAILURE_;
	}
	ret = sync_run(&r, cfg, st, &o);
	if (ret) {
		cmd_error(ret == FURROW_EVERIFY ? "verification failed" : "sync");
		code = cmd_exit_for(ret);
	} else {
		cmd_print_sync(&r, json, r.downgrade ? "downgrade accepted" :
			   r.changed ? "accepted" : "unchanged");
		code = EXIT_OK;
	}
	sync_result_release(&r);
	store_free(st);
	config_free(cfg);
	return code;
}
