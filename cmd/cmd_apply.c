/*
 * cmd_apply.c - `furrow apply`: one pass of the apply engine, then exit.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "monoclock.h"
#include "apply.h"
#include "cmd.h"
#include "config.h"
#include "error.h"
#include "report_send.h"
#include "store.h"
#include "telemetry.h"
#include "banned.h"

static int apply_help(void)
{
	fputs("usage: furrow [-c FILE] apply [--json] [--no-sync] "
	      "[--bundle FILE]\n\n"
	      "One pass: finish any operation an earlier furrow left in the\n"
	      "journal, fetch and verify the desired state, plan it, and apply\n"
	      "the plan through the A/B slots: stage, start, health-check,\n"
	      "switch, stop the old slot; roll back what fails.  Unchanged apps\n"
	      "are checked for drift and repaired.  A failed fetch is a warning:\n"
	      "the pass goes on with the commit accepted before.\n\n"
	      "  --no-sync      do not fetch; apply what is accepted\n"
	      "  --bundle FILE  take the desired state from a git bundle\n"
	      "  --json         print the result as one JSON object\n\n"
	      "With report.url set, the report and events of the pass are sent\n"
	      "for up to report.timeout seconds; what is left stays in the\n"
	      "outbox for the next furrow.\n\n"
	      "Exit: 0 converged, 1 error (or an app failed for another reason),\n"
	      "3 verification failed, 4 a change was deferred, denied or\n"
	      "skipped, 5 an update failed and was rolled back (or is held).\n",
	      stdout);
	return EXIT_OK;
}

static void print_json(struct strbuf *sb, const struct apply_result *r,
		       int code)
{
	strbuf_addch(sb, '{');
	cmd_json_str(sb, "commit", r->commit[0] ? r->commit : NULL, 1);
	if (r->has_serial)
		strbuf_addf(sb, ",\"serial\":%lld", r->serial);
	else
		strbuf_addstr(sb, ",\"serial\":null");
	cmd_json_str(sb, "plan_sha256", r->plan_sha256[0] ? r->plan_sha256 :
		     NULL, 0);
	cmd_json_str(sb, "fetch_error", r->fetch_error, 0);
	cmd_json_str(sb, "verify_error", r->verify_error, 0);
	strbuf_addf(sb, ",\"recovered\":%u,\"seconds\":%.3f,\"exit\":%d,"
		    "\"apps\":[", r->recovered, r->seconds, code);
	for (size_t i = 0; i < r->count; i++) {
		const struct apply_app *a = &r->apps[i];
		char slot[2] = { (char)a->slot, 0 };

		strbuf_addstr(sb, i ? ",{" : "{");
		cmd_json_str(sb, "app", a->app, 1);
		cmd_json_str(sb, "kind", a->kind, 0);
		cmd_json_str(sb, "action", plan_action_name(a->action), 0);
		cmd_json_str(sb, "outcome", apply_outcome_name(a->outcome), 0);
		cmd_json_str(sb, "slot", a->slot ? slot : NULL, 0);
		cmd_json_str(sb, "message", a->message, 0);
		strbuf_addch(sb, '}');
	}
	strbuf_addstr(sb, "]}\n");
}

static void print_human(struct strbuf *sb, const struct apply_result *r)
{
	size_t n[APPLY_FAILED + 1] = { 0 };

	if (r->fetch_error)
		strbuf_addf(sb, "warning: fetch failed, applying the commit "
			    "accepted before: %s\n", r->fetch_error);
	if (r->verify_error)
		strbuf_addf(sb, "warning: the fetched commit did not verify "
			    "(not applied): %s\n", r->verify_error);
	if (r->recovered)
		strbuf_addf(sb, "Recovered %u interrupted operation%s.\n",
			    r->recovered, r->recovered == 1 ? "" : "s");
	strbuf_addf(sb, "Applied commit %.12s", r->commit);
	if (r->has_serial)
		strbuf_addf(sb, " (serial %lld)", r->serial);
	strbuf_addstr(sb, "\n");
	for (size_t i = 0; i < r->count; i++) {
		const struct apply_app *a = &r->apps[i];

		n[a->outcome]++;
		if (a->outcome == APPLY_UNCHANGED)
			continue;
		strbuf_addf(sb, "  %s", a->app);
		if (a->kind)
			strbuf_addf(sb, " (%s)", a->kind);
		strbuf_addf(sb, "  %s: %s", plan_action_name(a->action),
			    apply_outcome_name(a->outcome));
		if (a->slot && (a->outcome == APPLY_APPLIED ||
				a->outcome == APPLY_REPAIRED))
			strbuf_addf(sb, ", slot %c", a->slot);
		if (a->message)
			strbuf_addf(sb, "  %s", a->message);
		strbuf_addch(sb, '\n');
	}
	strbuf_addf(sb, "Pass: %zu applied, %zu removed, %zu repaired, "
		    "%zu unchanged; %zu rolled back, %zu held, %zu deferred, "
		    "%zu denied, %zu skipped, %zu failed (%.1f s). "
		    "plan sha256:%s\n", n[APPLY_APPLIED], n[APPLY_REMOVED],
		    n[APPLY_REPAIRED], n[APPLY_UNCHANGED], n[APPLY_ROLLED_BACK],
		    n[APPLY_HELD], n[APPLY_DEFERRED], n[APPLY_DENIED],
		    n[APPLY_SKIPPED], n[APPLY_FAILED], r->seconds,
		    r->plan_sha256);
}

/* One-shot: try to deliver what the pass queued, for at most
 * report.timeout seconds; what is left waits in the outbox for the next
 * furrow (apply or run). */
static void flush_reports(const struct config *cfg, struct store *st)
{
	struct sender *s;
	double t0, now, next;
	int r;

	if (!cfg->report.url)
		return;
	s = sender_new(cfg);
	t0 = now = monoclock_now();
	while (now - t0 < cfg->report.timeout) {
		r = sender_step(s, st, now, &next);
		if (r == SENDER_IDLE || r == SENDER_WAITING || r == SENDER_RETRY ||
		    r < 0)
			break;
		now = monoclock_now();
	}
	error_clear();
	sender_free(s);
}

int cmd_apply(struct cmd_context *ctx, int argc, char **argv)
{
	struct strbuf sb = STRBUF_INIT;
	struct apply_options opts;
	struct apply_result r;
	struct telemetry tm;
	struct config *cfg = NULL;
	struct store *st = NULL;
	int json = 0, code, ret;

	memset(&opts, 0, sizeof(opts));
	memset(&r, 0, sizeof(r));
	for (int i = 1; i < argc; i++) {
		if (cmd_is_help(argv[i]))
			return apply_help();
		else if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (!strcmp(argv[i], "--no-sync"))
			opts.no_sync = 1;
		else if (!strcmp(argv[i], "--bundle") && i + 1 < argc)
			opts.bundle = argv[++i];
		else
			return cmd_usage_error("apply", "unknown argument '%s'",
					       argv[i]);
	}
	if (opts.bundle && opts.no_sync)
		return cmd_usage_error("apply", "--bundle and --no-sync "
				       "exclude each other");
	if ((code = cmd_load_config(ctx, &cfg)))
		return code;
	if ((ret = cmd_now(&opts.now)))
		goto fail;
	ret = store_open(&st, cfg->state_dir, NULL);
	if (ret == FURROW_EBUSY) {
		error_prefix(ret, "a furrow daemon may be running (ask it with "
			     "`furrow sync --now`)");
		goto fail;
	}
	if (ret)
		goto fail;
	telemetry_init(&tm, cfg, st);
	opts.event = telemetry_event;
	opts.event_arg = &tm;
	ret = apply_pass(&r, cfg, st, &opts);
	telemetry_after_pass(&tm, &r, ret, r.seconds);
	flush_reports(cfg, st);
	if (ret)
		goto fail;
	code = apply_result_class(&r);
	if (json)
		print_json(&sb, &r, code);
	else
		print_human(&sb, &r);
	fwrite(sb.buf, 1, sb.len, stdout);
	goto out;
fail:
	cmd_error(ret == FURROW_EVERIFY ? "verification failed" : NULL);
	code = cmd_exit_for(ret);
out:
	strbuf_release(&sb);
	apply_result_release(&r);
	store_free(st);
	config_free(cfg);
	return code;
}
