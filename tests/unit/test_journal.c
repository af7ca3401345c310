/*
 * test_journal.c - the apply intent journal, history and fault points
 * (core/journal.c, core/fault.c), including real crashes: a forked child
 * runs a scripted update and _exit()s at a fault point; the parent
 * reopens the store and checks what recovery would see.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "fault.h"
#include "journal.h"
#include "limits.h"
#include "store.h"
#include "strbuf.h"
#include "tap.h"
#include "banned.h"

#define COMMIT "0123456789abcdef0123456789abcdef01234567"
#define SPEC "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define PLAN "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static const struct journal_intent upd = {
	JOURNAL_OP_UPDATE, "a", "b", COMMIT, SPEC, PLAN,
};

static const char *dir_named(const char *name)
{
	static char bufs[4][512];
	static int next;
	char *b = bufs[next++ % 4];

	snprintf(b, sizeof(bufs[0]), "%s/%s", tap_tmpdir(), name);
	return b;
}

/* ---- collectors ---- */

struct seen {
	struct strbuf s;
	struct journal_record last;
	int n;
};

static int pending_fn(const struct journal_record *r, void *arg)
{
	struct seen *w = arg;

	strbuf_addf(&w->s, "%s;", r->app);
	w->last = *r;
	w->n++;
	return 0;
}

static int hist_fn(const struct history_entry *e, void *arg)
{
	struct seen *w = arg;

	strbuf_addf(&w->s, "%llu:%s:%s:%s>%s:%s;", (unsigned long long)e->seq,
		    e->app, e->event, e->from_slot, e->to_slot, e->reason);
	w->n++;
	return 0;
}

static void seen_reset(struct seen *w)
{
	strbuf_reset(&w->s);
	memset(&w->last, 0, sizeof(w->last));
	w->n = 0;
}

/* ---- round trip ---- */

static void test_round_trip(void)
{
	struct store *st = NULL;
	struct journal_record r;
	struct seen w = { STRBUF_INIT, { .app = "" }, 0 };
	struct journal_intent bad = upd;
	int i;

	is_int(store_open(&st, dir_named("rt"), NULL), 0, "open store");
	is_int(journal_get(st, "web", &r), FURROW_ENOENT, "nothing in flight");
	is_int(journal_step_start(st, "web", JOURNAL_STAGE), FURROW_ENOENT,
	       "step without begin refused");
	is_int(journal_finish(st, "web", JOURNAL_COMMITTED, NULL),
	       FURROW_ENOENT, "finish without begin refused");
	bad.to_slot = "c";
	is_int(journal_begin(st, "web", &bad), FURROW_EINVAL, "bad slot refused");
	bad = upd;
	bad.commit = "xyz";
	is_int(journal_begin(st, "web", &bad), FURROW_EINVAL,
	       "bad commit refused");
	is_int(journal_begin(st, "", &upd), FURROW_EINVAL, "empty app refused");

	is_int(journal_begin(st, "web", &upd), 0, "begin");
	is_int(journal_begin(st, "web", &upd), FURROW_EBUSY,
	       "second begin for the same app refused");
	ok(strstr(error_message(), "web") != NULL, "message: %s",
	   error_message());
	is_int(journal_get(st, "web", &r), 0, "get");
	ok(r.op == JOURNAL_OP_UPDATE && !strcmp(r.from_slot, "a") &&
	   !strcmp(r.to_slot, "b") && !strcmp(r.commit, COMMIT) &&
	   !strcmp(r.spec_sha256, SPEC) && !strcmp(r.plan_sha256, PLAN) &&
	   r.done == 0 && r.doing == JOURNAL_NO_STEP && r.started > 0,
	   "record reads back as begun");

	is_int(journal_step_start(st, "web", JOURNAL_STAGE), 0, "stage start");
	journal_get(st, "web", &r);
	ok(r.doing == JOURNAL_STAGE && r.done == 0, "stage in progress");
	is_int(journal_step_done(st, "web", JOURNAL_STAGE), 0, "stage done");
	journal_get(st, "web", &r);
	ok(r.doing == JOURNAL_NO_STEP && r.done == 1u << JOURNAL_STAGE,
	   "stage done, nothing in progress");
	is_int(journal_recovery_action(&r), JOURNAL_ROLL_BACK,
	   "before switch: roll back");
	for (i = JOURNAL_START; i < JOURNAL_NSTEPS; i++) {
		journal_step_start(st, "web", (enum journal_step)i);
		journal_step_done(st, "web", (enum journal_step)i);
	}
	journal_get(st, "web", &r);
	is_int(r.done, (1u << JOURNAL_NSTEPS) - 1, "every step done");
	is_int(journal_recovery_action(&r), JOURNAL_ROLL_FORWARD,
	       "after switch: roll forward");

	/* A second app in flight at the same time. */
	is_int(journal_begin(st, "api", &upd), 0, "begin a second app");
	is_int(journal_pending(st, pending_fn, &w), 0, "pending");
	is_str(w.s.buf, "api;web;", "both in flight, in name order");

	is_int(journal_finish(st, "web", JOURNAL_COMMITTED, NULL), 0, "finish");
	is_int(journal_get(st, "web", &r), FURROW_ENOENT, "record gone");
	is_int(journal_begin(st, "web", &upd), 0, "begin again after finish");
	is_int(journal_finish(st, "web", JOURNAL_REVERTED, "health: timeout"),
	       0, "finish reverted");
	is_int(journal_finish(st, "api", JOURNAL_COMMITTED, ""), 0,
	       "finish api");
	seen_reset(&w);
	is_int(journal_pending(st, pending_fn, &w), 0, "pending");
	is_int(w.n, 0, "nothing in flight");

	seen_reset(&w);
	is_int(history_list(st, NULL, 0, hist_fn, &w), 0, "history");
	is_str(w.s.buf, "3:api:update:a>b:;2:web:update-reverted:a>b:health: "
	       "timeout;1:web:update:a>b:;", "history newest first");
	seen_reset(&w);
	is_int(history_list(st, "web", 0, hist_fn, &w), 0, "history of web");
	is_str(w.s.buf, "2:web:update-reverted:a>b:health: timeout;"
	       "1:web:update:a>b:;", "only web's");
	seen_reset(&w);
	is_int(history_list(st, NULL, 1, hist_fn, &w), 0, "history max 1");
	is_str(w.s.buf, "3:api:update:a>b:;", "bounded to one");
	{
		struct history_entry e = { 0, 42, "db", "note", "", "", "",
					   "hand-written" };

		is_int(history_append(st, &e), 0, "history_append");
		seen_reset(&w);
		history_list(st, NULL, 2, hist_fn, &w);
		is_str(w.s.buf, "4:db:note:>:hand-written;3:api:update:a>b:;",
		       "appended entry is newest");
		e.commit = "nothex";
		is_int(history_append(st, &e), FURROW_EINVAL,
		       "bad commit refused");
	}
	store_free(st);
	strbuf_release(&w.s);
}

/* ---- crashes ---- */

/* Child: open the store, run a scripted update of each app in turn
 * (begin, start/done per step, finish), crashing where FURROW_CRASH_AT
 * says.  Exits 0 if the script ran to the end, 1 on an error. */
static void child_script(const char *dir, const char *crash_at,
			 const char *const *apps)
{
	struct store *st = NULL;
	int i;

	if (setenv("FURROW_CRASH_AT", crash_at, 1) < 0)
		_exit(1);
	fault_reload();
	if (store_open(&st, dir, NULL))
		_exit(1);
	for (; *apps; apps++) {
		if (journal_begin(st, *apps, &upd))
			_exit(1);
		for (i = 0; i < JOURNAL_NSTEPS; i++)
			if (journal_step_start(st, *apps, (enum journal_step)i) ||
			    journal_step_done(st, *apps, (enum journal_step)i))
				_exit(1);
		if (journal_finish(st, *apps, JOURNAL_COMMITTED, NULL))
			_exit(1);
	}
	_exit(0);
}

static int run_child(const char *dir, const char *crash_at,
		     const char *const *apps)
{
	char err[600];
	pid_t pid;
	int status;

	snprintf(err, sizeof(err), "%s.stderr", dir);
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		/* Keep the child's fault line out of the TAP stream. */
		if (!freopen(err, "w", stderr))
			_exit(1);
		child_script(dir, crash_at, apps);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_crash_each_step(void)
{
	static const char *const apps[] = { "web", NULL };
	struct seen w = { STRBUF_INIT, { .app = "" }, 0 };
	char name[64], at[64];
	struct store *st;
	int i, side, ok_all;

	for (i = 0; i < JOURNAL_NSTEPS; i++) {
		for (side = 0; side < 2; side++) {
			const char *step = journal_step_name((enum journal_step)i);
			unsigned want_done = (1u << (i + side)) - 1;
			int want_doing = side ? JOURNAL_NO_STEP : i;
			int want_fwd = i > JOURNAL_SWITCH ||
				       (i == JOURNAL_SWITCH && side);

			snprintf(name, sizeof(name), "crash-%s%s", step,
				 side ? "-done" : "");
			snprintf(at, sizeof(at), "%s%s", step,
				 side ? "-done" : "");
			is_int(run_child(dir_named(name), at, apps),
			       FAULT_EXIT_CODE, name);
			st = NULL;
			ok_all = store_open(&st, dir_named(name), NULL) == 0;
			seen_reset(&w);
			ok_all = ok_all &&
				 journal_pending(st, pending_fn, &w) == 0;
			ok(ok_all && w.n == 1 && !strcmp(w.s.buf, "web;") &&
			   w.last.done == want_done &&
			   w.last.doing == want_doing &&
			   (int)journal_recovery_action(&w.last) ==
			   (want_fwd ? JOURNAL_ROLL_FORWARD
				     : JOURNAL_ROLL_BACK),
			   "%s: reopened, web in flight, done 0x%x doing %d, "
			   "%s", at, w.last.done, w.last.doing,
			   want_fwd ? "roll forward" : "roll back");
			seen_reset(&w);
			ok_all = st && history_list(st, NULL, 0, hist_fn,
						    &w) == 0;
			ok(ok_all && w.n == 0, "%s: no history yet", at);
			/* Recovery can finish it and begin anew. */
			ok(st && journal_finish(st, "web", want_fwd ?
						JOURNAL_COMMITTED :
						JOURNAL_REVERTED, "crash") == 0 &&
			   journal_begin(st, "web", &upd) == 0,
			   "%s: finish after recovery, begin again", at);
			store_free(st);
		}
	}
	strbuf_release(&w.s);
}

static void test_crash_count(void)
{
	static const char *const apps[] = { "api", "web", NULL };
	struct seen w = { STRBUF_INIT, { .app = "" }, 0 };
	const char *dir = dir_named("crash-count");
	struct store *st = NULL;

	is_int(run_child(dir, "stage:2", apps), FAULT_EXIT_CODE,
	       "crash at the second stage");
	{
		struct strbuf e = STRBUF_INIT;
		char path[600];

		snprintf(path, sizeof(path), "%s.stderr", dir);
		strbuf_read_file(&e, path, 4096);
		is_str(e.buf, "furrow: fault point stage:2\n",
		       "the child said where it stopped");
		strbuf_release(&e);
	}
	is_int(store_open(&st, dir, NULL), 0, "reopen");
	journal_pending(st, pending_fn, &w);
	ok(w.n == 1 && !strcmp(w.s.buf, "web;") &&
	   w.last.doing == JOURNAL_STAGE && w.last.done == 0,
	   "only the second app is in flight, at stage: %s", w.s.buf);
	seen_reset(&w);
	history_list(st, NULL, 0, hist_fn, &w);
	is_str(w.s.buf, "1:api:update:a>b:;", "the first app's finish kept");
	store_free(st);

	/* A run with the variable naming no step it reaches: no crash. */
	is_int(run_child(dir_named("crash-none"), "nowhere", apps), 0,
	       "unmatched fault point is inert");
	is_int(run_child(dir_named("crash-bad"), "stage:0", apps), 0,
	       "malformed count is ignored");
	is_int(store_open(&st, dir_named("crash-none"), NULL), 0, "reopen");
	seen_reset(&w);
	history_list(st, NULL, 0, hist_fn, &w);
	is_str(w.s.buf, "2:web:update:a>b:;1:api:update:a>b:;",
	       "both updates finished");
	store_free(st);
	strbuf_release(&w.s);
}

struct count {
	long long n;
	unsigned char first[8];
};

static int count_fn(const void *key, size_t klen, const void *val,
		    size_t vlen, void *arg)
{
	struct count *c = arg;

	(void)val;
	(void)vlen;
	if (!c->n++ && klen == 8)
		memcpy(c->first, key, 8);
	return 0;
}

static int count_txn(struct store_txn *t, void *arg)
{
	return store_foreach(t, "history", NULL, 0, count_fn, arg);
}

/* The history keeps the newest LIMIT_HISTORY_KEEP entries. */
static void test_history_pruned(void)
{
	struct history_entry e = { 0, 1, "web", "restart", "a", "a", "", "" };
	struct store *st = NULL;
	struct count c;
	unsigned long long first = 0;
	int fails = 0;

	is_int(store_open(&st, dir_named("prune"), NULL), 0, "open a store");
	for (int i = 0; i < LIMIT_HISTORY_KEEP + 5; i++)
		fails += history_append(st, &e) != 0;
	is_int(fails, 0, "append LIMIT_HISTORY_KEEP + 5 entries");
	memset(&c, 0, sizeof(c));
	is_int(store_view(st, count_txn, &c), 0, "count the table");
	is_int(c.n, LIMIT_HISTORY_KEEP, "exactly LIMIT_HISTORY_KEEP are kept");
	for (int i = 0; i < 8; i++)
		first = first << 8 | c.first[i];
	is_int((long long)first, 6, "the oldest five were pruned");
	store_free(st);
}

int main(void)
{
	test_round_trip();
	test_history_pruned();
	test_crash_each_step();
	test_crash_count();
	return tap_done();
}
