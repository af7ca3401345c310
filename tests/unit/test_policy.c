/*
 * test_policy.c - core/policy.c, lua/policy.lua and the standard policies
 * in policies/: each policy's allow, deny and defer paths and its edges
 * (window starts and ends, midnight and week wraps, UTC offsets, wave
 * times), the runner's rules (strongest verdict wins, adjustable
 * fields), determinism, hostile policies, and the input that
 * sandbox_eval_program() hands a prelude.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "limits.h"
#include "policy.h"
#include "sandbox.h"
#include "strbuf.h"
#include "tap.h"
#include "value.h"
#include "valuecodec.h"
#include "verify.h"

/* Monday 2024-01-01 00:00:00 UTC. */
#define MON 1704067200LL
#define DAY 86400LL
#define HOUR 3600LL
#define MIN 60LL

#define PINNED "r.local/web@sha256:" \
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static const struct sandbox_limits test_limits = {
	LIMIT_CONFIG_MEMORY_BYTES, LIMIT_CONFIG_INSTRUCTIONS,
	LIMIT_CONFIG_MILLISECONDS,
};

/* A value tree written as a Lua expression (test data, trusted). */
static struct value *lua_value(const char *expr)
{
	struct strbuf sb = STRBUF_INIT;
	struct value *v = NULL;

	strbuf_addf(&sb, "return %s", expr);
	if (sandbox_eval(&v, "test-data", sb.buf, sb.len, &test_limits)) {
		tap_diag("bad test data %s: %s", expr, error_message());
		abort();
	}
	strbuf_release(&sb);
	return v;
}

/* ctx with now, host edge-042 (labels as given), commit time ctime. */
static struct value *make_ctx(long long now, const char *labels,
			      long long ctime, const char *extra)
{
	struct strbuf sb = STRBUF_INIT;
	struct value *v;

	strbuf_addf(&sb, "{ now = %lld, host = { id = 'edge-042', labels = %s "
		    "}, commit = { id = 'c0ffee', time = %lld, signer = 'ops' },"
		    " serial = 7, apps = {} %s }", now, labels ? labels : "{}",
		    ctime, extra ? extra : "");
	v = lua_value(sb.buf);
	strbuf_release(&sb);
	return v;
}

static const char default_changes[] =
	"{ { app = 'web', action = 'update', spec = { kind = 'container', "
	"image = '" PINNED "' }, current = { image = 'r.local/web:old' } },"
	"  { app = 'db', action = 'create', spec = { kind = 'service' } } }";

/*
 * "app:verdict[@until] (reason); ..." for every decision, "app:none" for
 * a change the policy said nothing about.  Caller frees.
 */
static char *summary(const struct policy_decisions *d)
{
	struct strbuf sb = STRBUF_INIT;

	for (size_t i = 0; i < d->count; i++) {
		const struct policy_decision *x = &d->decisions[i];

		if (i)
			strbuf_addstr(&sb, "; ");
		strbuf_addf(&sb, "%s:%s", x->app, x->decided ?
			    policy_verdict_name(x->verdict) : "none");
		if (x->has_until)
			strbuf_addf(&sb, "@%lld", x->until);
		if (x->reason)
			strbuf_addf(&sb, " (%s)", x->reason);
	}
	return strbuf_detach(&sb, NULL);
}

/* Run policy src (or the standard one if src is NULL); frees ctx. */
static int run(struct policy_decisions **out, const char *name,
	       const char *src, struct value *ctx, const char *changes,
	       const char *options)
{
	struct value *ch = lua_value(changes ? changes : default_changes);
	struct value *opt = options ? lua_value(options) : NULL;
	size_t len = src ? strlen(src) : 0;
	int rc;

	if (!src) {
		src = policy_builtin(name, &len);
		if (!src) {
			tap_diag("no built-in %s", name);
			abort();
		}
	}
	error_clear();
	rc = policy_run(out, name, src, len, ctx, ch, opt);
	value_free(ctx);
	value_free(ch);
	value_free(opt);
	return rc;
}

/* The policy must run; its summary must be want. */
static void decides(const char *name, const char *src, struct value *ctx,
		    const char *changes, const char *options,
		    const char *want, const char *what)
{
	struct policy_decisions *d = NULL;
	char *got = NULL;
	int rc = run(&d, name, src, ctx, changes, options);

	if (rc)
		tap_diag("rc=%d (%s): %s", rc, error_name(rc), error_message());
	else
		got = summary(d);
	is_str(got, want, what);
	free(got);
	policy_decisions_free(d);
}

/* The policy must fail with code and a message containing substr. */
static void refused(const char *name, const char *src, struct value *ctx,
		    const char *changes, const char *options, int code,
		    const char *substr, const char *what)
{
	struct policy_decisions *d = (struct policy_decisions *)1;
	int rc = run(&d, name, src, ctx, changes, options);

	ok(rc == code && d == NULL && strstr(error_message(), substr),
	   "%s -> %s", what, error_name(code));
	if (rc != code || !strstr(error_message(), substr))
		tap_diag("rc=%d (%s) message: %s; want substring \"%s\"", rc,
			 error_name(rc), error_message(), substr);
	if (!rc)
		policy_decisions_free(d);
}

static struct value *at(long long now)
{
	return make_ctx(now, NULL, MON, NULL);
}

/* --- std:require-digest --------------------------------------------- */

static void test_require_digest(void)
{
	const char *p = "std:require-digest";

	decides(p, NULL, at(MON), NULL, NULL, "web:none; db:none",
		"require-digest: a pinned image and a service pass");
	decides(p, NULL, at(MON),
		"{ { app = 'web', action = 'update', spec = { kind = "
		"'container', image = 'r.local/web:1.4' } } }", NULL,
		"web:deny (image \"r.local/web:1.4\" is not pinned by digest "
		"(NAME@sha256:<64 hex>))", "require-digest: a tag is denied");
	decides(p, NULL, at(MON),
		"{ { app = 'web', action = 'create', spec = { kind = "
		"'container', image = 'r/web@sha256:' .. string.rep('A', 64) } },"
		"  { app = 'x', action = 'create', spec = { kind = "
		"'container', image = 'r/x@sha256:' .. string.rep('a', 63) } },"
		"  { app = 'y', action = 'update', spec = { kind = "
		"'container' } } }", NULL,
		"web:deny (image \"r/web@sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\" is not pinned by digest "
		"(NAME@sha256:<64 hex>)); x:deny (image \"r/x@sha256:aaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\" is not "
		"pinned by digest (NAME@sha256:<64 hex>)); y:deny (container app "
		"has no image)",
		"require-digest: upper-case hex, a short digest, no image");
	decides(p, NULL, at(MON),
		"{ { app = 'old', action = 'remove', spec = { kind = "
		"'container', image = 'r/old:latest' } } }", NULL, "old:none",
		"require-digest: removing an unpinned app is allowed");
	refused(p, NULL, at(MON), NULL, "{ strict = true }", FURROW_EINVAL,
		"std:require-digest:", "require-digest: unknown option");
	refused(p, NULL, at(MON), NULL, "{ strict = true }", FURROW_EINVAL,
		"unknown option strict (this policy takes none)",
		"require-digest: unknown option is named");
}

/* --- std:deny-privileged -------------------------------------------- */

static const char priv_changes[] =
	"{ { app = 'vpn', action = 'create', spec = { kind = 'container', "
	"image = 'i', privileged = true } },"
	"  { app = 'mon', action = 'update', spec = { kind = 'container', "
	"image = 'i', network = 'host' } },"
	"  { app = 'both', action = 'update', spec = { kind = 'container', "
	"image = 'i', network = 'host', privileged = true } },"
	"  { app = 'plain', action = 'update', spec = { kind = 'container', "
	"image = 'i', privileged = false, network = 'private' } },"
	"  { app = 'gone', action = 'remove', spec = { kind = 'container', "
	"image = 'i', privileged = true } },"
	"  { app = 'svc', action = 'create', spec = { kind = 'service', "
	"privileged = true } } }";

static void test_deny_privileged(void)
{
	const char *p = "std:deny-privileged";
	const char *tail = " (name the app in the options.allow of "
			   "std:deny-privileged to permit it)";
	struct strbuf want = STRBUF_INIT;

	strbuf_addf(&want, "vpn:deny (privileged container%s); "
		    "mon:deny (container with host networking%s); "
		    "both:deny (privileged container with host networking%s); "
		    "plain:none; gone:none; svc:none", tail, tail, tail);
	decides(p, NULL, at(MON), priv_changes, NULL, want.buf,
		"deny-privileged: privileged and host network denied; "
		"removals and other kinds pass");
	strbuf_reset(&want);
	strbuf_addf(&want, "vpn:none; mon:deny (container with host "
		    "networking%s); both:none; plain:none; gone:none; svc:none",
		    tail);
	decides(p, NULL, at(MON), priv_changes,
		"{ allow = { 'vpn', 'both' } }", want.buf,
		"deny-privileged: options.allow lets named apps through");
	refused(p, NULL, at(MON), priv_changes, "{ allow = 'vpn' }",
		FURROW_EINVAL, "options.allow must be a list of app names",
		"deny-privileged: allow must be a list");
	refused(p, NULL, at(MON), priv_changes, "{ allow = { 1 } }",
		FURROW_EINVAL, "options.allow[1] must be an app name",
		"deny-privileged: allow entries must be names");
	strbuf_release(&want);
}

/* --- std:freeze ------------------------------------------------------ */

static void test_freeze(void)
{
	const char *p = "std:freeze";

	decides(p, NULL, make_ctx(MON, "{ freeze = 'true' }", MON, NULL),
		NULL, NULL,
		"web:defer (frozen by host label freeze=true); "
		"db:defer (frozen by host label freeze=true)",
		"freeze: label freeze=true defers everything, open-ended");
	decides(p, NULL, make_ctx(MON, NULL, MON, ", freeze_file = true"),
		NULL, NULL,
		"web:defer (frozen by a FREEZE file in the repository); "
		"db:defer (frozen by a FREEZE file in the repository)",
		"freeze: a FREEZE file defers everything");
	decides(p, NULL, make_ctx(MON, "{ freeze = 'true' }", MON,
				  ", freeze_file = true"),
		"{ { app = 'web', action = 'remove' } }", NULL,
		"web:defer (frozen by host label freeze=true and a FREEZE "
		"file)", "freeze: both, removals too");
	decides(p, NULL, make_ctx(MON, "{ freeze = 'false' }", MON,
				  ", freeze_file = false"),
		NULL, NULL, "web:none; db:none",
		"freeze: freeze=false and no file: nothing to say");
	decides(p, NULL, make_ctx(MON, "{ hold = 'true' }", MON, NULL),
		NULL, "{ label = 'hold' }",
		"web:defer (frozen by host label hold=true); "
		"db:defer (frozen by host label hold=true)",
		"freeze: options.label picks the label");
	decides(p, NULL, make_ctx(MON, "{ freeze = 'true' }", MON, NULL),
		"{}", NULL, "", "freeze: no changes, no decisions");
	refused(p, NULL, at(MON), NULL, "{ label = 3 }", FURROW_EINVAL,
		"options.label must be a non-empty string",
		"freeze: bad label option");
}

/* --- std:maintenance-window ----------------------------------------- */

static const char two_windows[] =
	"{ windows = { 'Sat 01:00-05:00', 'Sun 22:00-02:00' } }";

static void window(long long now, const char *options, const char *want,
		   const char *what)
{
	decides("std:maintenance-window", NULL, at(now),
		"{ { app = 'web', action = 'update' } }", options, want, what);
}

static void window_defer(long long now, const char *options,
			 long long until, const char *next, const char *what)
{
	struct strbuf want = STRBUF_INIT;

	strbuf_addf(&want, "web:defer@%lld (outside maintenance windows; "
		    "next: %s)", until, next);
	window(now, options, want.buf, what);
	strbuf_release(&want);
}

static void test_maintenance_window(void)
{
	const long long sat = MON + 5 * DAY, sun = MON + 6 * DAY;
	const char *in_sat = "web:allow (inside maintenance window "
			     "Sat 01:00-05:00 (UTC+00:00))";
	const char *in_sun = "web:allow (inside maintenance window "
			     "Sun 22:00-02:00 (UTC+00:00))";

	window(sat + 1 * HOUR, two_windows, in_sat,
	       "window: exactly at the start is inside");
	window(sat + 5 * HOUR - 1, two_windows, in_sat,
	       "window: one second before the end is inside");
	window_defer(sat + 5 * HOUR, two_windows, sun + 22 * HOUR,
		     "Sun 22:00-02:00 (UTC+00:00)",
		     "window: at the end is outside; defer to the next start");
	window_defer(sat + 1 * HOUR - 1, two_windows, sat + 1 * HOUR,
		     "Sat 01:00-05:00 (UTC+00:00)",
		     "window: one second before the start defers by a second");
	window(sun + 23 * HOUR + 30 * MIN, two_windows, in_sun,
	       "window: Sun 23:30 is inside a window crossing midnight");
	window(MON + 2 * HOUR - 1, two_windows, in_sun,
	       "window: Mon 01:59:59 is inside Sun 22:00-02:00 (week wrap)");
	window(sun + DAY + 1 * HOUR, two_windows, in_sun,
	       "window: Mon 01:00 of the next week, too");
	window_defer(MON + 2 * HOUR, two_windows, sat + 1 * HOUR,
		     "Sat 01:00-05:00 (UTC+00:00)",
		     "window: Mon 02:00 is outside; next is Saturday");
	window_defer(MON + 2 * DAY + 12 * HOUR, two_windows, sat + 1 * HOUR,
		     "Sat 01:00-05:00 (UTC+00:00)",
		     "window: Wednesday noon waits for Saturday");
	window_defer(sun + 21 * HOUR, "{ windows = { 'Mon 03:00-04:00' } }",
		     sun + DAY + 3 * HOUR, "Mon 03:00-04:00 (UTC+00:00)",
		     "window: Sunday waits across the week wrap to Monday");
	window_defer(MON + 4 * HOUR, "{ windows = { 'Mon 03:00-04:00' } }",
		     MON + 7 * DAY + 3 * HOUR, "Mon 03:00-04:00 (UTC+00:00)",
		     "window: just past the only window waits a week less an "
		     "hour");
	window(sat + 24 * HOUR - 1, "{ windows = { 'Sat 22:00-24:00' } }",
	       "web:allow (inside maintenance window Sat 22:00-24:00 "
	       "(UTC+00:00))", "window: 24:00 ends the day");
	window_defer(sun, "{ windows = { 'Sat 22:00-24:00' } }",
		     sat + 7 * DAY + 22 * HOUR, "Sat 22:00-24:00 (UTC+00:00)",
		     "window: Sun 00:00 is past Sat 22:00-24:00");

	/* Sat 01:00 at +05:30 is Fri 19:30 UTC. */
	window(MON + 4 * DAY + 19 * HOUR + 30 * MIN,
	       "{ windows = { 'Sat 01:00-05:00' }, utc_offset = '+05:30' }",
	       "web:allow (inside maintenance window Sat 01:00-05:00 "
	       "(UTC+05:30))", "window: +05:30, at the start (Fri 19:30 UTC)");
	window_defer(MON + 4 * DAY + 19 * HOUR + 30 * MIN - 1,
		     "{ windows = { 'Sat 01:00-05:00' }, utc_offset = '+05:30' }",
		     MON + 4 * DAY + 19 * HOUR + 30 * MIN,
		     "Sat 01:00-05:00 (UTC+05:30)",
		     "window: +05:30, one second before");
	window(sat + 13 * HOUR - 1,
	       "{ windows = { 'Sat 01:00-05:00' }, utc_offset = '-08:00' }",
	       "web:allow (inside maintenance window Sat 01:00-05:00 "
	       "(UTC-08:00))", "window: -08:00, 04:59:59 local is 12:59:59 "
	       "UTC");
	window_defer(sat + 13 * HOUR,
		     "{ windows = { 'Sat 01:00-05:00' }, utc_offset = '-08:00' }",
		     sat + 7 * DAY + 9 * HOUR, "Sat 01:00-05:00 (UTC-08:00)",
		     "window: -08:00, 05:00 local is outside");
	/* Mon 00:00 at +05:30 is Sun 18:30 UTC: the offset wraps the week. */
	window(sun + 18 * HOUR + 30 * MIN,
	       "{ windows = { 'Mon 00:00-01:00' }, utc_offset = '+05:30' }",
	       "web:allow (inside maintenance window Mon 00:00-01:00 "
	       "(UTC+05:30))", "window: an offset across the week wrap");

	window(MON, "{ windows = { 'Sat 01:00-05:00', 'Mon 00:00-00:30' } }",
	       "web:allow (inside maintenance window Mon 00:00-00:30 "
	       "(UTC+00:00))", "window: any window of the list will do");
	decides("std:maintenance-window", NULL, at(MON),
		"{ { app = 'a', action = 'create' }, { app = 'b', "
		"action = 'remove' } }", "{ windows = { 'Tue 00:00-01:00' } }",
		"a:defer@1704153600 (outside maintenance windows; next: "
		"Tue 00:00-01:00 (UTC+00:00)); b:defer@1704153600 (outside "
		"maintenance windows; next: Tue 00:00-01:00 (UTC+00:00))",
		"window: every change waits, removals too");

	refused("std:maintenance-window", NULL, at(MON), NULL, "{}",
		FURROW_EINVAL, "options.windows must be a non-empty list",
		"window: no windows");
	refused("std:maintenance-window", NULL, at(MON), NULL,
		"{ windows = { 'Sat 25:00-01:00' } }", FURROW_EINVAL,
		"options.windows[1] must be \"Ddd HH:MM-HH:MM\" (e.g. "
		"\"Sat 01:00-05:00\"): no such time", "window: hour 25");
	refused("std:maintenance-window", NULL, at(MON), NULL,
		"{ windows = { 'Sat 01:00-05:00', 'Fre 01:00-02:00' } }",
		FURROW_EINVAL, "options.windows[2] must be",
		"window: unknown day");
	refused("std:maintenance-window", NULL, at(MON), NULL,
		"{ windows = { 'Sat 01:00-01:00' } }", FURROW_EINVAL,
		"is empty (start = end)", "window: empty window");
	refused("std:maintenance-window", NULL, at(MON), NULL,
		"{ windows = { 'Sat 01:00-05:00' }, utc_offset = '+5:30' }",
		FURROW_EINVAL, "options.utc_offset must be \"+HH:MM\"",
		"window: bad offset");
	refused("std:maintenance-window", NULL, at(MON), NULL,
		"{ window = { 'Sat 01:00-05:00' } }", FURROW_EINVAL,
		"unknown option window (known: windows, utc_offset)",
		"window: misspelt option");
}

/* --- std:canary-waves ----------------------------------------------- */

/* ctx for host id at now, commit time t. */
static struct value *host_at(const char *id, long long now, long long t)
{
	struct strbuf sb = STRBUF_INIT;
	struct value *v;

	strbuf_addf(&sb, "{ now = %lld, host = { id = '%s', labels = {} }, "
		    "commit = { id = 'c0ffee', time = %lld } }", now, id, t);
	v = lua_value(sb.buf);
	strbuf_release(&sb);
	return v;
}

static void test_canary_waves(void)
{
	const char *p = "std:canary-waves";
	const char *one = "{ { app = 'web', action = 'update' } }";
	const char *opt = "{ waves = 4, delay = 3600 }";
	const long long t = MON + 12345;

	/* FNV-1a 32: "edge-042" is 2856274927, wave 3 of 4; "edge-003"
	 * is 2973026712, wave 0; "edge-001" is 3006581950, wave 2. */
	decides(p, NULL, host_at("edge-042", t + 3 * 3600, t), one, opt,
		"web:allow (canary wave 3 of 4: applies from commit time + "
		"10800 s)", "waves: wave 3 applies exactly at commit + 3 delay");
	decides(p, NULL, host_at("edge-042", t + 3 * 3600 - 1, t), one, opt,
		"web:defer@1704090345 (canary wave 3 of 4: applies from commit "
		"time + 10800 s)", "waves: one second earlier it waits until "
		"then");
	decides(p, NULL, host_at("edge-003", t, t), one, opt,
		"web:allow (canary wave 0 of 4: applies from commit time + 0 s)",
		"waves: wave 0 applies at the commit time");
	decides(p, NULL, host_at("edge-001", t, t), one, opt,
		"web:defer@1704086745 (canary wave 2 of 4: applies from commit "
		"time + 7200 s)", "waves: wave 2 waits two delays");
	decides(p, NULL, host_at("edge-001", t, t), one, NULL,
		"web:defer@1704086745 (canary wave 2 of 4: applies from commit "
		"time + 7200 s)", "waves: defaults are 4 waves, 3600 s");
	decides(p, NULL, host_at("edge-042", t, t), one,
		"{ waves = 1, delay = 3600 }",
		"web:allow (canary wave 0 of 1: applies from commit time + 0 s)",
		"waves: a single wave applies at once");
	decides(p, NULL, host_at("edge-042", t, t), one,
		"{ waves = 3, delay = 60 }",
		"web:defer@1704079605 (canary wave 1 of 3: applies from commit "
		"time + 60 s)", "waves: 2856274927 mod 3 is 1");
	refused(p, NULL, lua_value("{ now = 1, commit = { time = 1 } }"), one,
		opt, FURROW_EINVAL, "ctx.host.id is missing",
		"waves: a host id is needed");
	refused(p, NULL, lua_value("{ now = 1, host = { id = 'h' } }"), one,
		opt, FURROW_EINVAL, "ctx.commit.time is missing",
		"waves: a commit time is needed");
	refused(p, NULL, host_at("h", t, t), one, "{ waves = 0 }",
		FURROW_EINVAL, "options.waves must be an integer from 1 to 1000",
		"waves: zero waves");
	refused(p, NULL, host_at("h", t, t), one, "{ delay = 1.5 }",
		FURROW_EINVAL, "options.delay must be an integer",
		"waves: a float delay");
}

/* --- the runner ------------------------------------------------------ */

static const char three[] =
	"{ { app = 'a', action = 'create', spec = {} },"
	"  { app = 'b', action = 'update', spec = {} },"
	"  { app = 'c', action = 'remove' } }";

static void test_runner(void)
{
	struct policy_decisions *d = NULL;
	struct strbuf sb = STRBUF_INIT;
	int rc;

	decides("p.lua", "return function() end", at(MON), three, NULL,
		"a:none; b:none; c:none", "a policy that decides nothing");
	decides("p.lua",
		"return function(ctx, changes)\n"
		"  local a, b, c = changes[1], changes[2], changes[3]\n"
		"  allow(a) defer(a, 10, 'later') deny(a, 'no') allow(a)\n"
		"  defer(b, 10, 'ten') allow(b)\n"
		"  deny(c, 'first') deny(c, 'second') defer(c, 5, 'x')\n"
		"end\n", at(MON), three, NULL,
		"a:deny (no); b:defer@10 (ten); c:deny (first)",
		"deny beats defer beats allow; the first deny's reason stays");
	decides("p.lua",
		"return function(ctx, changes)\n"
		"  defer('a', 20, 'twenty') defer('a', 10, 'ten')\n"
		"  defer('b', 10, 'ten') defer('b', nil, 'open')\n"
		"  defer('b', 30, 'thirty')\n"
		"  allow('c', 'fine')\n"
		"end\n", at(MON), three, NULL,
		"a:defer@20 (twenty); b:defer (open); c:allow (fine)",
		"of two defers the later until wins, open-ended latest; apps "
		"by name");
	decides("p.lua",
		"local function f(ctx, changes)\n"
		"  local a = changes[1]\n"
		"  a.app = 'b'\n"
		"  deny(a, 'a, not b')\n"
		"end\n"
		"return f\n", at(MON), three, NULL,
		"a:deny (a, not b); b:none; c:none",
		"a change is its table: rewriting change.app redirects nothing");
	decides("p.lua",
		"return function() decided = {} allow('a')\n"
		"  return { decisions = { ghost = { verdict = 'deny' } } }\n"
		"end\n", at(MON), three, NULL, "a:allow; b:none; c:none",
		"what the function returns, and a global named decided, "
		"change nothing");
	decides("p.lua",
		"allow('a', 'at load time')\nreturn function() end\n",
		at(MON), three, NULL, "a:allow (at load time); b:none; c:none",
		"helpers work while the file loads, too");
	decides("p.lua",
		"return function(ctx, changes, options)\n"
		"  if ctx.now == 1704067200 and options.x == 1 and\n"
		"     ctx.host.labels.site == 'pune' and #changes == 3 and\n"
		"     changes[2].spec and changes[1].action == 'create' then\n"
		"    allow(changes[1], 'saw everything')\n"
		"  end\n"
		"end\n", make_ctx(MON, "{ site = 'pune' }", MON, NULL), three,
		"{ x = 1 }", "a:allow (saw everything); b:none; c:none",
		"the function gets ctx, changes and options");

	/* Adjustments. */
	rc = run(&d, "p.lua",
		 "return function(ctx, changes)\n"
		 "  adjust(changes[1], { strategy = 'stop-first' })\n"
		 "  adjust(changes[1], { health = { settle = 30, retries = 5 } })\n"
		 "  adjust(changes[1], { health = { settle = 2.5 } })\n"
		 "  adjust('b', { health = { interval = 1 } })\n"
		 "  defer('b', 99, 'wait')\n"
		 "  adjust('c', { strategy = 'start-first' }) deny('c', 'no')\n"
		 "end\n", at(MON), three, NULL);
	ok(rc == 0 && d && d->count == 3, "adjust runs");
	if (!rc) {
		value_to_json(&sb, d->decisions[0].adjust, 0);
		is_str(sb.buf, "{\"health\":{\"retries\":5,\"settle\":2.5},"
		       "\"strategy\":\"stop-first\"}",
		       "adjustments merge; a later value replaces an earlier");
		ok(d->decisions[0].decided &&
		   d->decisions[0].verdict == POLICY_ALLOW,
		   "an adjusted change is allowed");
		strbuf_reset(&sb);
		value_to_json(&sb, d->decisions[1].adjust, 0);
		is_str(sb.buf, "{\"health\":{\"interval\":1}}",
		       "adjustments stay with a deferred change");
		ok(d->decisions[2].verdict == POLICY_DENY &&
		   d->decisions[2].adjust == NULL,
		   "a denied change loses its adjustments");
	} else {
		tap_diag("rc=%d: %s", rc, error_message());
	}
	policy_decisions_free(d);
	strbuf_release(&sb);
}

/* --- hostile policies ------------------------------------------------ */

static void hostile(const char *src, int code, const char *substr,
		    const char *what)
{
	refused("policies/evil.lua", src, at(MON), three, NULL, code, substr,
		what);
}

static void test_hostile(void)
{
	struct strbuf big = STRBUF_INIT;

	hostile("while true do end", FURROW_ELIMIT,
		"policies/evil.lua: instruction limit of 20000000 exceeded",
		"an endless loop while loading");
	hostile("return function() while true do end end", FURROW_ELIMIT,
		"instruction limit", "an endless loop in the function");
	hostile("return function() pcall(function() while true do end end)"
		" allow('a') end", FURROW_ELIMIT, "instruction limit",
		"a kill caught by pcall stays a kill");
	hostile("local t = {} for i = 1, 1e9 do t[i] = ('x'):rep(1024) .. i "
		"end", FURROW_ELIMIT, "memory limit of 33554432 bytes exceeded",
		"a memory bomb");
	hostile("return 42", FURROW_EINVAL,
		"policies/evil.lua: a policy file must return a function "
		"(ctx, changes, options), got number", "returns a number");
	hostile("x = 1", FURROW_EINVAL, "got nothing", "returns nothing");
	hostile("return function(ctx, changes)\n"
		"  adjust(changes[1], { image = 'evil:latest' })\nend",
		FURROW_EINVAL, "policies/evil.lua:2: adjust: field 'image' may "
		"not be adjusted by a policy (adjustable: health.interval, "
		"health.retries, health.settle, strategy)",
		"adjusting a field outside the whitelist, with its line");
	hostile("return function(ctx, changes)\n"
		"  adjust(changes[1], { health = { http = 'x' } })\nend",
		FURROW_EINVAL, "field 'health.http' may not be adjusted",
		"adjusting a health field outside the whitelist");
	hostile("return function(ctx, changes)\n"
		"  adjust(changes[1], { health = { retries = -1 } })\nend",
		FURROW_EINVAL, "evil.lua:2: adjust: health.retries must be an "
		"integer from 0 and at most 1000 (got -1)",
		"an adjusted value out of bounds");
	hostile("return function(ctx, changes)\n"
		"  adjust(changes[1], { health = { interval = 0 } })\nend",
		FURROW_EINVAL, "health.interval must be a number above 0",
		"interval 0 is not above 0");
	hostile("return function(ctx, changes)\n"
		"  adjust(changes[1], { strategy = 'yolo' })\nend",
		FURROW_EINVAL, "strategy must be one of start-first, stop-first "
		"(got 'yolo')", "an unknown strategy");
	hostile("return function(ctx, changes)\n"
		"  adjust(changes[1], { [1] = 2 })\nend",
		FURROW_EINVAL, "field names must be strings",
		"adjust with a non-string field");
	hostile("return function()\n  deny('ghost', 'boo')\nend",
		FURROW_EINVAL, "policies/evil.lua:2: deny: app 'ghost' has no "
		"proposed change", "deciding for an app without a change");
	hostile("return function()\n  allow({ app = 'a' })\nend",
		FURROW_EINVAL, "evil.lua:2: allow: the first argument must be "
		"one of the changes passed to the policy, or an app name",
		"deciding with a forged change table");
	hostile("return function(ctx, changes)\n  deny(changes[1])\nend",
		FURROW_EINVAL, "evil.lua:2: deny: a reason (a non-empty string) "
		"is required, got nil", "deny without a reason");
	hostile("return function(ctx, changes)\n"
		"  defer(changes[1], 1.5, 'x')\nend", FURROW_EINVAL,
		"evil.lua:2: defer: until must be epoch seconds as a "
		"non-negative integer, or nil (got 1.5)", "defer until a float");
	hostile("return function(ctx, changes)\n"
		"  defer(changes[1], 10, ('x'):rep(513))\nend", FURROW_EINVAL,
		"the reason is longer than 512 bytes", "a reason over the limit");
	hostile("return function(ctx, changes)\n"
		"  deny(changes[1], 'a\\0b')\nend", FURROW_EINVAL,
		"the reason contains a NUL byte", "a reason with a NUL");
	hostile("return function() os.exit(1) end", FURROW_EINVAL,
		"global 'os'", "no os library");
	hostile("return function() io.open('/etc/passwd') end", FURROW_EINVAL,
		"global 'io'", "no io library");
	hostile("return function() error('policy says no') end",
		FURROW_EINVAL, "policies/evil.lua:1: policy says no",
		"an error in the policy carries its line");
	hostile("return function() error(setmetatable({}, { __tostring = "
		"function() while true do end end })) end", FURROW_EINVAL,
		"(error object is a table value)",
		"an error object's __tostring is never run");
	hostile("return function(", FURROW_ESYNTAX, "policies/evil.lua:1:",
		"a policy that does not compile");
	hostile("return string.dump(function() end)", FURROW_EINVAL,
		"field 'dump'", "no string.dump");

	while (big.len <= LIMIT_POLICY_FILE_BYTES)
		strbuf_addstr(&big, "-- padding padding padding padding\n");
	hostile(big.buf, FURROW_ELIMIT, "more than the limit of 1048576",
		"a policy file over the size limit");
	strbuf_release(&big);

	refused("p.lua", "return function() end", lua_value("{ now = 1.5 }"),
		three, NULL, FURROW_EINVAL, "ctx.now must be an integer",
		"furrow must inject an integer now");
	refused("p.lua", "return function() end", at(MON),
		"{ { app = 'a', action = 'create' }, { app = 'a', "
		"action = 'remove' } }", NULL, FURROW_EINVAL,
		"two changes for app a", "two changes for one app");
	refused("p.lua", "return function() end", at(MON),
		"{ { app = 'a', action = 'upgrade' } }", NULL, FURROW_EINVAL,
		"action must be create, update or remove", "an unknown action");
}

/* --- identity, hashes, determinism ----------------------------------- */

static void test_record(void)
{
	static const char src[] = "return function() end\n";
	struct policy_decisions *d = NULL;
	const char *std;
	char hex[65];
	size_t len = 0;
	int rc;

	rc = run(&d, "policies/noop.lua", src, at(MON), three, NULL);
	ok(rc == 0 && d, "a policy runs");
	if (!rc) {
		is_str(d->policy, "policies/noop.lua", "the set names the policy");
		is_str(d->sha256, "c9649d661d777df83d4cac7b6e5090bbbe465a65647e"
		       "4398270d90f705bc55a9", "its SHA-256 is the source's");
		for (size_t i = 0; i < d->count; i++)
			ok(!strcmp(d->decisions[i].policy, "policies/noop.lua") &&
			   !strcmp(d->decisions[i].sha256, d->sha256),
			   "decision %zu records the policy name and hash", i);
	}
	policy_decisions_free(d);
	d = NULL;

	std = policy_builtin("std:freeze", &len);
	ok(std && len == strlen(std) && !strncmp(std, "-- std:freeze", 13),
	   "std:freeze is built in, starting with its documentation");
	verify_sha256_hex(hex, std, len);
	rc = run(&d, "std:freeze", NULL, at(MON), three, NULL);
	ok(rc == 0 && d && !strcmp(d->sha256, hex) &&
	   !strcmp(d->decisions[0].sha256, hex) &&
	   !strcmp(d->decisions[0].policy, "std:freeze"),
	   "a standard policy is recorded by name and the hash of its "
	   "embedded source");
	policy_decisions_free(d);

	ok(policy_builtin("std:require-digest", NULL) &&
	   policy_builtin("std:maintenance-window", NULL) &&
	   policy_builtin("std:canary-waves", NULL) &&
	   policy_builtin("std:deny-privileged", NULL),
	   "all five standard policies are built in");
	ok(!policy_builtin("freeze", &len) && !policy_builtin("std:nope", &len)
	   && !policy_builtin("policy.lua", &len) &&
	   !policy_builtin("std:policy", &len),
	   "other names are not standard policies (nor the prelude)");
	verify_sha256_hex(hex, "abc", 3);
	is_str(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61"
	       "f20015ad", "verify_sha256_hex(\"abc\")");
}

/* Encode the decisions of one run (valuecodec bytes). */
static int encoded(struct strbuf *sb, const char *name, const char *src,
		   struct value *ctx, const char *changes, const char *options)
{
	struct policy_decisions *d = NULL;
	struct value *v;
	int rc = run(&d, name, src, ctx, changes, options);

	if (rc)
		return rc;
	v = policy_decisions_to_value(d);
	valuecodec_encode(sb, v);
	value_free(v);
	policy_decisions_free(d);
	return 0;
}

static void same_twice(const char *name, const char *src, long long now,
		       const char *changes, const char *options,
		       const char *what)
{
	struct strbuf a = STRBUF_INIT, b = STRBUF_INIT;
	int ra = encoded(&a, name, src, at(now), changes, options);
	int rb = encoded(&b, name, src, at(now), changes, options);

	ok(!ra && !rb && a.len > 0 && a.len == b.len &&
	   !memcmp(a.buf, b.buf, a.len), "%s: same inputs, same bytes", what);
	strbuf_release(&a);
	strbuf_release(&b);
}

static void test_determinism(void)
{
	struct policy_decisions *d = NULL;
	struct strbuf sb = STRBUF_INIT;
	struct value *v;
	int rc;

	same_twice("std:maintenance-window", NULL, MON + 3 * HOUR, three,
		   two_windows, "maintenance-window");
	same_twice("std:canary-waves", NULL, MON, three, NULL, "canary-waves");
	same_twice("p.lua",
		   "return function(ctx, changes)\n"
		   "  for i, c in ipairs(changes) do\n"
		   "    local r = math.random(1, 3)\n"
		   "    if r == 1 then allow(c, 'r' .. r)\n"
		   "    elseif r == 2 then defer(c, math.random(1, 1e9), 'r2')\n"
		   "    else deny(c, 'r' .. r .. ' ' .. math.random()) end\n"
		   "    adjust(c, { health = { settle = math.random(1, 60) } })\n"
		   "  end\n"
		   "end\n", MON, three, NULL, "math.random is seeded the same");
	same_twice("p.lua",
		   "return function(ctx, changes)\n"
		   "  local keys = {}\n"
		   "  for k in pairs({ x = 1, y = 2, z = 3, w = 4 }) do\n"
		   "    keys[#keys + 1] = k\n"
		   "  end\n"
		   "  table.sort(keys)\n"
		   "  deny(changes[1], table.concat(keys, ','))\n"
		   "end\n", MON, three, NULL, "sorted pairs");

	rc = run(&d, "std:maintenance-window", NULL, at(MON), three,
		 "{ windows = { 'Tue 00:00-01:00' } }");
	ok(rc == 0, "decisions as a value");
	if (!rc) {
		v = policy_decisions_to_value(d);
		value_to_json(&sb, value_get(v, "decisions"), 0);
		is_str(sb.buf, "[{\"app\":\"a\",\"decided\":true,\"reason\":"
		       "\"outside maintenance windows; next: Tue 00:00-01:00 "
		       "(UTC+00:00)\",\"until\":1704153600,\"verdict\":\"defer\"},"
		       "{\"app\":\"b\",\"decided\":true,\"reason\":\"outside "
		       "maintenance windows; next: Tue 00:00-01:00 (UTC+00:00)\","
		       "\"until\":1704153600,\"verdict\":\"defer\"},{\"app\":\"c\","
		       "\"decided\":true,\"reason\":\"outside maintenance windows; "
		       "next: Tue 00:00-01:00 (UTC+00:00)\",\"until\":1704153600,"
		       "\"verdict\":\"defer\"}]",
		       "policy_decisions_to_value(): one record per change");
		ok(value_get(v, "policy") && value_get(v, "sha256"),
		   "... with the policy's name and hash");
		value_free(v);
	}
	policy_decisions_free(d);
	strbuf_release(&sb);
}

/* --- sandbox_eval_program() input ------------------------------------ */

static int program_with(struct value **out, const char *prelude,
			const struct value *input)
{
	error_clear();
	return sandbox_eval_program(out, "echo.lua", prelude, strlen(prelude),
				    "user.lua", "", 0, input, &test_limits);
}

static void test_sandbox_input(void)
{
	/* Hands back what the prelude saw, in Lua's own terms. */
	static const char echo[] =
		"local name, input = ...\n"
		"local r = { name = name, t = type(input) }\n"
		"if type(input) == 'table' then\n"
		"  r.n = #input.list; r.s = input.s; r.len = #input.s\n"
		"  r.f = math.type(input.f); r.i = math.type(input.i)\n"
		"  r.deep = input.a.b.c; r.b = input.yes\n"
		"  input.list[1] = 'changed'\n"
		"end\n"
		"return {}, function() return r end\n";
	struct value *in = lua_value("{ list = { 'x', 'y', 'z' }, "
				     "s = 'a\\0b', f = 1.5, i = 2, yes = true,"
				     " a = { b = { c = 'deep' } }, [7] = 7 }");
	struct value *v = NULL;
	struct strbuf sb = STRBUF_INIT;
	int rc;

	rc = program_with(&v, echo, in);
	ok(rc == 0, "a prelude receives input");
	if (!rc) {
		value_to_json(&sb, v, 0);
		is_str(sb.buf, "{\"b\":true,\"deep\":\"deep\",\"f\":\"float\","
		       "\"i\":\"integer\",\"len\":3,\"n\":3,\"name\":\"user.lua\","
		       "\"s\":\"a\\u0000b\",\"t\":\"table\"}",
		       "input: sequences, NUL bytes, number kinds, nesting");
	} else {
		tap_diag("rc=%d: %s", rc, error_message());
	}
	ok(value_get(in, "list")->u.table.entries[0].val.u.string.ptr[0] == 'x',
	   "the caller's input is not changed by the prelude");
	value_free(v);
	v = NULL;
	value_free(in);

	rc = program_with(&v, echo, NULL);
	ok(rc == 0 && value_get(v, "t") &&
	   !strcmp(value_get(v, "t")->u.string.ptr, "nil"),
	   "NULL input is nil");
	value_free(v);
	v = NULL;

	/* Deeper than LIMIT_VALUE_DEPTH: built by hand, Lua would refuse. */
	in = value_new(VALUE_TABLE);
	{
		struct value *t = in;

		for (int i = 0; i < LIMIT_VALUE_DEPTH + 2; i++) {
			t = value_table_add_str(t, "n", 1);
			t->type = VALUE_TABLE;
		}
	}
	rc = program_with(&v, echo, in);
	ok(rc == FURROW_ELIMIT && v == NULL &&
	   strstr(error_message(), "user.lua: input n.n.") &&
	   strstr(error_message(), "tables nested deeper than the limit"),
	   "an input nested too deep is a limit error naming the path");
	if (rc != FURROW_ELIMIT)
		tap_diag("rc=%d: %s", rc, error_message());
	value_free(in);

	in = value_new(VALUE_TABLE);
	value_set_string(value_table_add_str(in, "big", 3), "", 0);
	{
		struct value *s = (struct value *)value_get(in, "big");

		free(s->u.string.ptr);
		s->u.string.len = LIMIT_VALUE_STRING_BYTES + 1;
		s->u.string.ptr = calloc(1, s->u.string.len + 1);
	}
	rc = program_with(&v, echo, in);
	ok(rc == FURROW_ELIMIT &&
	   strstr(error_message(), "input big: string larger than the limit"),
	   "an input string over the limit is a limit error");
	value_free(in);

	in = lua_value("{ s = string.rep('x', 1000000) }");
	{
		struct sandbox_limits lim = { 512 * 1024, 1000000, 2000 };

		error_clear();
		rc = sandbox_eval_program(&v, "echo.lua", echo, strlen(echo),
					  "user.lua", "", 0, in, &lim);
	}
	ok(rc == FURROW_ELIMIT && strstr(error_message(), "memory limit"),
	   "the input's Lua copy counts against the memory cap");
	value_free(in);
	strbuf_release(&sb);

	rc = sandbox_eval_program_isolated(&v, "echo.lua", echo, strlen(echo),
					   "user.lua", "", 0,
					   (in = lua_value("{ list = {1}, "
							   "s = '', f = 0.5, i = 1,"
							   " a = { b = {} } }")),
					   &test_limits);
	ok(rc == 0 && value_get(v, "n") && value_get(v, "n")->u.integer == 1,
	   "the isolated child inherits the input");
	value_free(v);
	value_free(in);
}

/*
 * Every memory cap, however tight, ends in a result or a limit error,
 * never a Lua panic: the sweep stops the program at each step of copying
 * the input, running the prelude and converting the result.
 */
static void test_tight_input(void)
{
	static const char prelude[] =
		"local _, input = ...\n"
		"return {}, function() return { n = #input.changes } end\n";
	struct value *in = lua_value("{ changes = { { app = 'a', spec = { "
				     "image = string.rep('i', 3000) } }, "
				     "{ app = 'b', s = 'x\\0y' } }, ctx = { now"
				     " = 1, host = { labels = { a = 'b' } } } }");
	struct sandbox_limits lim = { 0, 1000000, 2000 };
	size_t cap, good = 0, limit = 0, other = 0;

	for (cap = 8 * 1024; cap <= 96 * 1024; cap += 128) {
		struct value *v = NULL;
		int rc;

		lim.memory_bytes = cap;
		error_clear();
		rc = sandbox_eval_program(&v, "p.lua", prelude, strlen(prelude),
					  "user.lua", "", 0, in, &lim);
		if (rc == 0)
			good++;
		else if (rc == FURROW_ELIMIT)
			limit++;
		else
			other++;
		if (rc && rc != FURROW_ELIMIT)
			tap_diag("cap %zu: rc=%d %s", cap, rc, error_message());
		value_free(v);
	}
	ok(other == 0 && limit > 0 && good > 0, "tight memory caps with "
	   "input: %zu limit errors, then %zu results, nothing else", limit,
	   good);
	value_free(in);
}

int main(void)
{
	/* A hang is a failure, not a stuck test run. */
	alarm(300);
	test_sandbox_input();
	test_tight_input();
	test_require_digest();
	test_deny_privileged();
	test_freeze();
	test_maintenance_window();
	test_canary_waves();
	test_runner();
	test_hostile();
	test_record();
	test_determinism();
	return tap_done();
}
