/*
 * test_plan_state.c - plan_build() against recorded applied state: the
 * update, unchanged and remove actions that only appear once something
 * was applied.  Nothing applies yet, so the records are written with
 * plan_record_applied(), the function apply will use.  The repository
 * is real: keys from ssh-keygen, a commit signed by git, fetched and
 * verified by sync_run().
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "config.h"
#include "error.h"
#include "plan.h"
#include "store.h"
#include "strbuf.h"
#include "sync.h"
#include "tap.h"

static char dir[512];

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	struct strbuf cmd = STRBUF_INIT;
	va_list ap;
	int rc;

	strbuf_addf(&cmd, "cd '%s' && (", dir);
	va_start(ap, fmt);
	strbuf_vaddf(&cmd, fmt, ap);
	va_end(ap);
	strbuf_addstr(&cmd, ") >>sh.log 2>&1");
	rc = system(cmd.buf);
	strbuf_release(&cmd);
	return rc;
}

static const struct plan_item *item(const struct plan *p, const char *app,
				    size_t *index)
{
	for (size_t i = 0; p && i < p->count; i++)
		if (!strcmp(p->items[i].app, app)) {
			if (index)
				*index = i;
			return &p->items[i];
		}
	return NULL;
}

static int setup(struct config **cfg)
{
	struct strbuf text = STRBUF_INIT;
	int ret;

	/* As root the fetch child runs as 65534: it must reach the repo. */
	chmod(dir, 0711);
	if (sh("ssh-keygen -q -t ed25519 -N '' -C op -f key && "
	       "printf 'op@example.net namespaces=\"git\" %%s\\n' \"$(cut -d' ' -f1,2 key.pub)\" >signers && "
	       "git init -q --bare -b main srv.git && git init -q -b main work && "
	       "printf '%%s\\n' 'serial = 1' "
	       "'app \"a\" { kind = \"service\", files = \"s\", exec = { \"x\" } }' "
	       "'app \"b\" { kind = \"service\", files = \"s\", exec = { \"y\" } }' "
	       "'app \"c\" { kind = \"service\", files = \"s\", exec = { \"z\" }, depends_on = { \"a\" } }' "
	       ">work/furrow.lua && git -C work add furrow.lua && "
	       "git -C work -c user.name=op -c user.email=op@example.net -c gpg.format=ssh "
	       "-c user.signingkey=\"$PWD/key\" commit -q -S -m one && "
	       "git -C work push -q \"$PWD/srv.git\" main && chmod -R go+rX srv.git"))
		return -1;
	strbuf_addf(&text, "return { host = { id = \"h\" }, source = { url = "
		    "\"%s/srv.git\" }, trust = { commit_signers = \"signers\" }, "
		    "state_dir = \"state\" }", dir);
	{
		struct strbuf name = STRBUF_INIT;

		strbuf_addf(&name, "%s/agent.lua", dir);
		ret = config_load_text(cfg, name.buf, text.buf, text.len);
		strbuf_release(&name);
	}
	strbuf_release(&text);
	return ret;
}

int main(void)
{
	struct sync_options so = { NULL, 0, 0, 0 };
	struct plan_inputs in;
	struct sync_result sr;
	struct config *cfg = NULL;
	struct store *st = NULL;
	struct plan *p = NULL;
	const struct plan_item *a, *b, *c, *gone;
	size_t ia = 0, ic = 0, ig = 0;
	char other[65];

	snprintf(dir, sizeof(dir), "%s", tap_tmpdir());
	if (!ok(setup(&cfg) == 0, "a signed repository and a config: %s",
		error_message()))
		return tap_done();
	is_int(store_open(&st, cfg->state_dir, NULL), 0, "store opens");
	is_int(sync_run(&sr, cfg, st, &so), 0, "sync accepts the commit");
	if (!st || sr.commit[0] == '\0') {
		tap_diag("%s", error_message());
		return tap_done();
	}
	in.commit = sr.commit;
	in.commit_time = sr.commit_time;
	in.signer = sr.signer.principal;
	in.now = 1800000000;

	is_int(plan_build(&p, cfg, st, &in), 0, "plan on an empty state");
	a = item(p, "a", NULL);
	b = item(p, "b", NULL);
	c = item(p, "c", NULL);
	ok(a && b && c && a->action == PLAN_CREATE && b->action == PLAN_CREATE &&
	   c->action == PLAN_CREATE, "nothing applied: every app is a create");
	is_int(p ? (long long)p->n_create : -1, 3, "three creates counted");

	/* Record a as applied with its spec, b with another, and an app
	 * the desired state no longer has. */
	memset(other, '0', 64);
	other[64] = '\0';
	is_int(plan_record_applied(st, "a", a->spec_sha256, sr.commit), 0,
	       "record a as applied");
	is_int(plan_record_applied(st, "b", other, sr.commit), 0,
	       "record b with another spec");
	is_int(plan_record_applied(st, "gone", other, sr.commit), 0,
	       "record an app no longer desired");
	plan_free(p);
	p = NULL;

	is_int(plan_build(&p, cfg, st, &in), 0, "plan against recorded state");
	a = item(p, "a", &ia);
	b = item(p, "b", NULL);
	c = item(p, "c", &ic);
	gone = item(p, "gone", &ig);
	ok(a && a->action == PLAN_UNCHANGED, "same spec: unchanged");
	ok(b && b->action == PLAN_UPDATE && !strcmp(b->current_sha256, other),
	   "another spec: update, with the applied hash");
	ok(c && c->action == PLAN_CREATE, "not applied: create");
	ok(gone && gone->action == PLAN_REMOVE && gone->spec_sha256[0] == '\0',
	   "applied but no longer desired: remove");
	ok(a && c && ia < ic, "c comes after a, which it depends on");
	ok(gone && ig == p->count - 1, "the removal comes last");
	ok(p && p->n_update == 1 && p->n_remove == 1 && p->n_unchanged == 1 &&
	   p->n_create == 1, "counts: 1 create, 1 update, 1 remove, 1 unchanged");

	{
		char first[65];

		snprintf(first, sizeof(first), "%s", p->sha256);
		plan_free(p);
		p = NULL;
		is_int(plan_record_applied(st, "gone", NULL, NULL), 0,
		       "forget the removed app");
		is_int(plan_build(&p, cfg, st, &in), 0, "plan again");
		ok(!item(p, "gone", NULL), "a forgotten app is not planned");
		ok(p && strcmp(first, p->sha256) != 0,
		   "a different plan has a different hash");
	}

	plan_free(p);
	sync_result_release(&sr);
	store_free(st);
	config_free(cfg);
	return tap_done();
}
