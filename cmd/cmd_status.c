/*
 * cmd_status.c - `furrow status`: what this host follows and how fresh
 * it is.  A frozen source (a server withholding updates) shows up here as
 * the age of the newest verified commit.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "apply.h"
#include "cmd.h"
#include "value.h"
#include "config.h"
#include "error.h"
#include "log.h"
#include "store.h"
#include "sync.h"
#include "banned.h"

static int status_help(void)
{
	fputs("usage: furrow [-c FILE] status [--json]\n\n"
	      "Show the accepted commit, its signer and serial, the age of that\n"
	      "commit and the time since the last successful fetch (freeze\n"
	      "visibility), and the last fetch or verification error.  With\n"
	      "source.max_age set, an older commit is reported as stale.\n", stdout);
	return EXIT_OK;
}

static void add_age(struct strbuf *sb, long long secs)
{
	if (secs < 120)
		strbuf_addf(sb, "%llds", secs);
	else if (secs < 7200)
		strbuf_addf(sb, "%lldm", secs / 60);
	else if (secs < 172800)
		strbuf_addf(sb, "%lldh", secs / 3600);
	else
		strbuf_addf(sb, "%lldd", secs / 86400);
}

static const char *str(const struct value *t, const char *key)
{
	const struct value *v = value_get(t, key);

	return v && v->type == VALUE_STRING ? v->u.string.ptr : NULL;
}

static long long num(const struct value *t, const char *key)
{
	const struct value *v = value_get(t, key);

	return v && v->type == VALUE_INTEGER ? v->u.integer : 0;
}

static void print_apps(struct strbuf *sb, const struct value *ap,
		       long long now)
{
	const struct value *pass = value_get(ap, "last_pass");
	const struct value *apps = value_get(ap, "apps");

	if (pass) {
		/* The pass's commit: what each app runs is below (a held or
		 * deferred app stays on an earlier one). */
		strbuf_addf(sb, "last pass     %s", str(pass, "commit"));
		if (value_get(pass, "serial"))
			strbuf_addf(sb, " (serial %lld)", num(pass, "serial"));
		strbuf_addstr(sb, ", ");
		add_age(sb, now - num(pass, "time"));
		strbuf_addf(sb, " ago, exit %lld\nplan          sha256:%s\n",
			    num(pass, "exit"), str(pass, "plan_sha256"));
	}
	if (!apps->u.table.count) {
		strbuf_addstr(sb, "apps          (none applied)\n");
		return;
	}
	strbuf_addstr(sb, "apps\n");
	for (size_t i = 0; i < apps->u.table.count; i++) {
		const struct value *a = &apps->u.table.entries[i].val;
		const struct value *held = value_get(a, "held");
		const struct value *lock = value_get(a, "update_lock");

		strbuf_addf(sb, "  %-20s %-8s slot %s  %-9s commit %.12s",
			    str(a, "app"), str(a, "kind") ? str(a, "kind") : "?",
			    str(a, "slot") ? str(a, "slot") : "-",
			    str(a, "health"), str(a, "commit"));
		if (num(a, "changed")) {
			strbuf_addstr(sb, "  changed ");
			add_age(sb, now - num(a, "changed"));
			strbuf_addstr(sb, " ago");
		}
		strbuf_addch(sb, '\n');
		if (held)
			strbuf_addf(sb, "    held: %.12s of commit %.12s: %s\n",
				    str(held, "spec_sha256"), str(held, "commit"),
				    str(held, "reason"));
		if (lock)
			strbuf_addf(sb, "    update lock: %s\n",
				    str(lock, "reason"));
	}
}

int cmd_status(struct cmd_context *ctx, int argc, char **argv)
{
	struct store_options ro = { STORE_READ_ONLY, 0, 0, STORE_KIND_STATE };
	struct strbuf sb = STRBUF_INIT;
	struct config *cfg = NULL;
	struct store *st = NULL;
	struct sync_state s;
	long long now = (long long)time(NULL), age, fetch_age;
	struct value *ap = NULL;
	int json = 0, code, stale;

	memset(&s, 0, sizeof(s));
	for (int i = 1; i < argc; i++) {
		if (cmd_is_help(argv[i]))
			return status_help();
		else if (!strcmp(argv[i], "--json"))
			json = 1;
		else
			return cmd_usage_error("status", "unknown argument '%s'",
					       argv[i]);
	}
	if ((code = cmd_load_config(ctx, &cfg)))
		return code;
	/* No store yet is a state too: nothing accepted, never fetched. */
	code = store_open(&st, cfg->state_dir, &ro);
	if ((code && code != FURROW_ENOENT) ||
	    (!code && sync_state_load(&s, st, cfg->state_dir))) {
		cmd_error(NULL);
		code = EXIT_FAILURE_;
		goto out;
	}
	age = s.accepted[0] ? now - s.accepted_commit_time : -1;
	fetch_age = s.fetch_ok_at ? now - s.fetch_ok_at : -1;
	stale = cfg->source.max_age > 0 && s.accepted[0] &&
		age > (long long)cfg->source.max_age;
	if (st && apply_status(&ap, cfg, st)) {
		cmd_error(NULL);
		code = EXIT_FAILURE_;
		goto out;
	}
	if (stale)
		log_event(LOG_WARN, "sync.stale", "newest verified commit is older "
			  "than source.max_age", "commit", s.accepted, NULL);
	if (json) {
		strbuf_addch(&sb, '{');
		cmd_json_str(&sb, "host", cfg->host_id, 1);
		cmd_json_str(&sb, "accepted_commit", s.accepted[0] ? s.accepted : NULL, 0);
		cmd_json_str(&sb, "signer", s.signer, 0);
		cmd_json_str(&sb, "fingerprint", s.fingerprint, 0);
		if (s.has_serial)
			strbuf_addf(&sb, ",\"serial\":%lld", s.accepted_serial);
		else
			strbuf_addstr(&sb, ",\"serial\":null");
		strbuf_addf(&sb, ",\"serial_max\":%lld", s.serial_max);
		if (age >= 0)
			strbuf_addf(&sb, ",\"commit_age_seconds\":%lld", age);
		else
			strbuf_addstr(&sb, ",\"commit_age_seconds\":null");
		if (fetch_age >= 0)
			strbuf_addf(&sb, ",\"last_fetch_age_seconds\":%lld", fetch_age);
		else
			strbuf_addstr(&sb, ",\"last_fetch_age_seconds\":null");
		strbuf_addf(&sb, ",\"stale\":%s", stale ? "true" : "false");
		cmd_json_str(&sb, "fetched_commit", s.fetched[0] ? s.fetched : NULL, 0);
		if (s.fetch_attempt_at)
			strbuf_addf(&sb, ",\"last_attempt_age_seconds\":%lld",
				    now - s.fetch_attempt_at);
		else
			strbuf_addstr(&sb, ",\"last_attempt_age_seconds\":null");
		cmd_json_str(&sb, "fetch_error", s.fetch_error, 0);
		cmd_json_str(&sb, "verify_error", s.verify_error, 0);
		strbuf_addstr(&sb, ",\"last_pass\":");
		if (ap && value_get(ap, "last_pass"))
			value_to_json(&sb, value_get(ap, "last_pass"), 0);
		else
			strbuf_addstr(&sb, "null");
		strbuf_addstr(&sb, ",\"apps\":");
		if (ap && value_get(ap, "apps")->u.table.count)
			value_to_json(&sb, value_get(ap, "apps"), 0);
		else
			strbuf_addstr(&sb, "[]");
		strbuf_addstr(&sb, "}\n");
	} else {
		strbuf_addf(&sb, "host          %s\n", cfg->host_id);
		if (!s.accepted[0]) {
			strbuf_addstr(&sb, "accepted      (none yet: run furrow sync)\n");
		} else {
			strbuf_addf(&sb, "accepted      %s\n", s.accepted);
			strbuf_addf(&sb, "signer        %s (%s)\n",
				    s.signer ? s.signer : "?",
				    s.fingerprint ? s.fingerprint : "?");
			if (s.has_serial)
				strbuf_addf(&sb, "serial        %lld\n",
					    s.accepted_serial);
			strbuf_addstr(&sb, "commit age    ");
			add_age(&sb, age);
			strbuf_addstr(&sb, stale ? " (STALE: older than "
				      "source.max_age)\n" : "\n");
		}
		strbuf_addstr(&sb, "last fetch    ");
		if (fetch_age >= 0) {
			add_age(&sb, fetch_age);
			strbuf_addstr(&sb, " ago\n");
		} else {
			strbuf_addstr(&sb, "never\n");
		}
		if (s.fetch_error) {
			strbuf_addstr(&sb, "fetch error   ");
			if (s.fetch_attempt_at) {
				add_age(&sb, now - s.fetch_attempt_at);
				strbuf_addstr(&sb, " ago: ");
			}
			strbuf_addf(&sb, "%s\n", s.fetch_error);
		}
		if (s.verify_error)
			strbuf_addf(&sb, "verify error  %s\n", s.verify_error);
		if (ap)
			print_apps(&sb, ap, now);
	}
	fwrite(sb.buf, 1, sb.len, stdout);
	code = EXIT_OK;
out:
	strbuf_release(&sb);
	sync_state_release(&s);
	value_free(ap);
	store_free(st);
	config_free(cfg);
	return code;
}
