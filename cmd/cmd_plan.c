/*
 * cmd_plan.c - `furrow plan [--json] [--all]`: what an apply of the
 * accepted commit would do on this host, and what the policies say.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "config.h"
#include "error.h"
#include "plan.h"
#include "value.h"
#include "store.h"
#include "sync.h"
#include "banned.h"

static int plan_help(void)
{
	fputs("usage: furrow [-c FILE] plan [--json] [--all]\n\n"
	      "Compare the apps the accepted commit wants on this host with the\n"
	      "applied state, and run the policies furrow.lua declares over each\n"
	      "change: create, update, remove, or unchanged; allowed, deferred\n"
	      "or denied, with the reason and the deciding policy.  The commit\n"
	      "is re-verified first.  --all also lists unchanged apps.\n"
	      "FURROW_NOW=<epoch seconds> replaces the clock (tests,\n"
	      "reproducing a plan).\n\n"
	      "Exit: 0 nothing denied or deferred, 1 error, 3 verification\n"
	      "failed, 4 a change was denied or deferred.\n", stdout);
	return EXIT_OK;
}

/* The injected clock: FURROW_NOW if set (for tests and for reproducing
 * a plan byte for byte), else the real time. */
void cmd_add_time(struct strbuf *sb, long long t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char buf[32];

	if (!gmtime_r(&tt, &tm) ||
	    !strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm))
		strbuf_addf(sb, "@%lld", t);
	else
		strbuf_addstr(sb, buf);
}

int cmd_now(long long *now)
{
	const char *s = getenv("FURROW_NOW");
	char *end;

	if (!s) {
		*now = (long long)time(NULL);
		return 0;
	}
	errno = 0;
	*now = strtoll(s, &end, 10);
	if (errno || end == s || *end || *now < 0)
		return error_set(FURROW_EINVAL, "FURROW_NOW=%s: not a number of "
				 "seconds since the epoch", s);
	return 0;
}

struct style {
	const char *sym;
	const char *on;
};

#define RESET(c) ((c) ? "\033[0m" : "")

static struct style item_style(const struct plan_item *it)
{
	static const struct style deny = { "!", "\033[1;31m" };
	static const struct style defer = { "\xe2\x80\xa6", "\033[36m" };
	static const struct style by_action[] = {
		[PLAN_CREATE] = { "+", "\033[32m" },
		[PLAN_UPDATE] = { "~", "\033[33m" },
		[PLAN_UNCHANGED] = { "=", "\033[2m" },
		[PLAN_REMOVE] = { "-", "\033[31m" },
	};

	if (it->verdict == POLICY_DENY)
		return deny;
	if (it->verdict == POLICY_DEFER)
		return defer;
	return by_action[it->action];
}

static void print_human(struct strbuf *sb, const struct plan *p, int all,
			int colour)
{
	strbuf_addf(sb, "Plan for %s at commit %.12s", p->host, p->commit);
	if (p->has_serial)
		strbuf_addf(sb, " (serial %lld)", p->serial);
	strbuf_addstr(sb, "\n\n");
	for (size_t i = 0; i < p->count; i++) {
		const struct plan_item *it = &p->items[i];
		struct style s = item_style(it);

		if (it->action == PLAN_UNCHANGED && !all)
			continue;
		strbuf_addf(sb, "  %s%s %s", colour ? s.on : "", s.sym, it->app);
		if (it->kind)
			strbuf_addf(sb, " (%s)", it->kind);
		strbuf_addf(sb, "  %s%s", plan_action_name(it->action),
			    RESET(colour));
		if (it->verdict != POLICY_ALLOW) {
			strbuf_addstr(sb, it->verdict == POLICY_DENY ?
				      "  denied" : "  deferred");
			if (it->has_until) {
				strbuf_addstr(sb, " until ");
				cmd_add_time(sb, it->until);
			}
		} else if (it->reason) {
			strbuf_addstr(sb, "  allowed");
		}
		if (it->policy && (it->verdict != POLICY_ALLOW || it->reason))
			strbuf_addf(sb, " by %s", it->policy);
		if (it->reason && (it->verdict != POLICY_ALLOW || it->policy))
			strbuf_addf(sb, ": %s", it->reason);
		if (it->adjust && it->verdict != POLICY_DENY) {
			strbuf_addstr(sb, "  adjusted ");
			value_to_json(sb, it->adjust, 0);
		}
		strbuf_addch(sb, '\n');
	}
	if (!p->n_create && !p->n_update && !p->n_remove)
		strbuf_addstr(sb, "  No changes: the applied state matches.\n");
	strbuf_addf(sb, "\nPlan: %zu to create, %zu to update, %zu to remove; "
		    "%zu deferred, %zu denied. plan sha256:%s\n", p->n_create,
		    p->n_update, p->n_remove, p->n_deferred, p->n_denied,
		    p->sha256);
}

int cmd_plan(struct cmd_context *ctx, int argc, char **argv)
{
	struct store_options ro = { STORE_READ_ONLY, 0, 0, STORE_KIND_STATE };
	struct strbuf sb = STRBUF_INIT;
	struct plan_inputs in;
	struct config *cfg = NULL;
	struct store *st = NULL;
	struct plan *p = NULL;
	struct sync_state s;
	long long now;
	int json = 0, all = 0, code, ret;

	memset(&s, 0, sizeof(s));
	for (int i = 1; i < argc; i++) {
		if (cmd_is_help(argv[i]))
			return plan_help();
		else if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (!strcmp(argv[i], "--all"))
			all = 1;
		else
			return cmd_usage_error("plan", "unknown argument '%s'",
					       argv[i]);
	}
	if ((code = cmd_load_config(ctx, &cfg)))
		return code;
	if ((ret = cmd_now(&now)))
		goto fail;
	/* Read-only: planning never writes, and must work beside a running
	 * agent that holds the store's lock. */
	ret = store_open(&st, cfg->state_dir, &ro);
	if (ret == FURROW_ENOENT) {
		ret = error_set(FURROW_ENOENT, "nothing accepted yet: run "
				"furrow sync");
		goto fail;
	}
	if (ret || (ret = sync_state_load(&s, st, cfg->state_dir)))
		goto fail;
	memset(&in, 0, sizeof(in));
	in.commit = s.accepted;
	in.commit_time = s.accepted_commit_time;
	in.signer = s.signer;
	in.now = now;
	if ((ret = plan_build(&p, cfg, st, &in)))
		goto fail;
	if (json)
		plan_json(&sb, p);
	else
		print_human(&sb, p, all, isatty(STDOUT_FILENO));
	fwrite(sb.buf, 1, sb.len, stdout);
	code = p->n_deferred || p->n_denied ? EXIT_POLICY : EXIT_OK;
	goto out;
fail:
	cmd_error(ret == FURROW_EVERIFY ? "verification failed" : NULL);
	code = cmd_exit_for(ret);
out:
	strbuf_release(&sb);
	plan_free(p);
	sync_state_release(&s);
	store_free(st);
	config_free(cfg);
	return code;
}
