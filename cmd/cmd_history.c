/*
 * cmd_history.c - `furrow history [APP]`: what the apply engine did,
 * newest first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "config.h"
#include "error.h"
#include "journal.h"
#include "store.h"
#include "strbuf.h"
#include "banned.h"

static int history_help(void)
{
	fputs("usage: furrow [-c FILE] history [APP] [-n COUNT] [--json]\n\n"
	      "Deployments, rollbacks (automatic and by hand), removals, drift\n"
	      "repairs and service restarts, newest first, with their times,\n"
	      "slots, commits and reasons; only APP's when given.  -n limits\n"
	      "the count (default 50, at most 1000).  Works beside a running\n"
	      "daemon (read-only).\n\n"
	      "Exit: 0, 1 error.\n", stdout);
	return EXIT_OK;
}

struct out {
	struct strbuf sb;
	int json;
	size_t n;
};

static int each(const struct history_entry *e, void *arg)
{
	struct out *o = arg;

	if (o->json) {
		strbuf_addstr(&o->sb, o->n ? ",{" : "{");
		strbuf_addf(&o->sb, "\"seq\":%llu,\"time\":%lld",
			    (unsigned long long)e->seq, e->time);
		cmd_json_str(&o->sb, "app", e->app, 0);
		cmd_json_str(&o->sb, "event", e->event, 0);
		cmd_json_str(&o->sb, "from", e->from_slot, 0);
		cmd_json_str(&o->sb, "to", e->to_slot, 0);
		cmd_json_str(&o->sb, "commit", e->commit, 0);
		cmd_json_str(&o->sb, "reason", e->reason, 0);
		strbuf_addch(&o->sb, '}');
	} else {
		cmd_add_time(&o->sb, e->time);
		strbuf_addf(&o->sb, "  %-16s %-16s", e->app, e->event);
		if (*e->from_slot || *e->to_slot)
			strbuf_addf(&o->sb, " %s->%s", e->from_slot,
				    e->to_slot);
		if (*e->commit)
			strbuf_addf(&o->sb, " %.12s", e->commit);
		if (*e->reason)
			strbuf_addf(&o->sb, "  %s", e->reason);
		strbuf_addch(&o->sb, '\n');
	}
	o->n++;
	return 0;
}

int cmd_history(struct cmd_context *ctx, int argc, char **argv)
{
	struct store_options ro = { STORE_READ_ONLY, 0, 0, STORE_KIND_STATE };
	struct config *cfg = NULL;
	struct store *st = NULL;
	const char *app = NULL;
	struct out o;
	unsigned max = 50;
	int code, ret;

	memset(&o, 0, sizeof(o));
	strbuf_init(&o.sb, 0);
	for (int i = 1; i < argc; i++) {
		if (cmd_is_help(argv[i])) {
			return history_help();
		} else if (!strcmp(argv[i], "--json")) {
			o.json = 1;
		} else if (!strcmp(argv[i], "-n") && i + 1 < argc) {
			char *end;
			long v = strtol(argv[++i], &end, 10);

			if (*end || v < 1 || v > 1000)
				return cmd_usage_error("history", "-n: \"%s\" is "
						       "not a count from 1 to "
						       "1000", argv[i]);
			max = (unsigned)v;
		} else if (argv[i][0] == '-' || app) {
			return cmd_usage_error("history", "unknown argument "
					       "'%s'", argv[i]);
		} else {
			app = argv[i];
		}
	}
	if ((code = cmd_load_config(ctx, &cfg)))
		return code;
	ret = store_open(&st, cfg->state_dir, &ro);
	if (ret == FURROW_ENOENT) {
		ret = 0;   /* nothing ever ran here: an empty history */
	} else if (!ret) {
		if (o.json)
			strbuf_addch(&o.sb, '[');
		ret = history_list(st, app, max, each, &o);
	}
	if (ret) {
		cmd_error(NULL);
		code = cmd_exit_for(ret);
		goto out;
	}
	if (o.json) {
		if (!st)
			strbuf_addch(&o.sb, '[');
		strbuf_addstr(&o.sb, "]\n");
	} else if (!o.n) {
		strbuf_addstr(&o.sb, "No history yet.\n");
	}
	fwrite(o.sb.buf, 1, o.sb.len, stdout);
	code = EXIT_OK;
out:
	strbuf_release(&o.sb);
	store_free(st);
	config_free(cfg);
	return code;
}
