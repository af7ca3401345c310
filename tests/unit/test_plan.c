/*
 * test_plan.c - core/plan.c without a repository: how decisions of
 * several policies combine, the applied-state records, spec hashes and
 * the canonical plan body.  plan_build() itself runs against a signed
 * repository in tests/t0012-plan.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "plan.h"
#include "store.h"
#include "strbuf.h"
#include "tap.h"
#include "value.h"

static struct policy_decision dec(enum policy_verdict v, const char *policy,
				  const char *reason, int has_until,
				  long long until)
{
	struct policy_decision d;

	memset(&d, 0, sizeof(d));
	d.app = (char *)"web";
	d.verdict = v;
	d.decided = 1;
	d.reason = (char *)reason;
	d.has_until = has_until;
	d.until = until;
	d.policy = (char *)policy;
	snprintf(d.sha256, sizeof(d.sha256), "%064d", (int)strlen(policy));
	return d;
}

static void item_init(struct plan_item *it)
{
	memset(it, 0, sizeof(*it));
	it->verdict = POLICY_ALLOW;
}

static void item_release(struct plan_item *it)
{
	free(it->reason);
	free(it->policy);
}

static void test_combine(void)
{
	struct plan_item it;
	struct policy_decision d;

	item_init(&it);
	d = dec(POLICY_ALLOW, "p1", NULL, 0, 0);
	d.decided = 0;
	plan_combine(&it, &d);
	ok(!it.policy && it.verdict == POLICY_ALLOW,
	   "an undecided allow leaves the item without a policy");

	d = dec(POLICY_ALLOW, "std:maintenance-window", "inside Sat", 0, 0);
	plan_combine(&it, &d);
	is_str(it.policy, "std:maintenance-window", "a decided allow names its policy");

	d = dec(POLICY_DEFER, "std:canary-waves", "wave 2", 1, 500);
	plan_combine(&it, &d);
	ok(it.verdict == POLICY_DEFER && it.until == 500,
	   "defer beats allow");
	d = dec(POLICY_DEFER, "p-early", "early", 1, 100);
	plan_combine(&it, &d);
	is_str(it.policy, "std:canary-waves", "an earlier defer does not win");
	d = dec(POLICY_DEFER, "p-late", "late", 1, 900);
	plan_combine(&it, &d);
	ok(!strcmp(it.policy, "p-late") && it.until == 900,
	   "a later defer wins: the change waits for both");
	d = dec(POLICY_DEFER, "std:freeze", "frozen", 0, 0);
	plan_combine(&it, &d);
	ok(!strcmp(it.policy, "std:freeze") && !it.has_until,
	   "an open-ended defer is the latest of all");
	d = dec(POLICY_DEFER, "p-later", "later", 1, 5000);
	plan_combine(&it, &d);
	is_str(it.policy, "std:freeze", "and stays");

	d = dec(POLICY_DENY, "std:require-digest", "not pinned", 0, 0);
	plan_combine(&it, &d);
	ok(it.verdict == POLICY_DENY && !strcmp(it.reason, "not pinned") &&
	   !it.has_until, "deny beats defer, without an until");
	ok(strlen(it.policy_sha256) == 64, "the deciding policy's hash is kept");
	d = dec(POLICY_DENY, "p2", "second", 0, 0);
	plan_combine(&it, &d);
	is_str(it.reason, "not pinned", "the first deny's reason stays");
	d = dec(POLICY_ALLOW, "p3", "fine", 0, 0);
	plan_combine(&it, &d);
	ok(it.verdict == POLICY_DENY, "a later allow does not undo a deny");
	item_release(&it);
}

static void test_records(void)
{
	struct store *st = NULL;
	struct value *apps = NULL;
	char dir[512], sha[65];
	const char *commit = "0123456789abcdef0123456789abcdef01234567";

	snprintf(dir, sizeof(dir), "%s/state", tap_tmpdir());
	is_int(store_open(&st, dir, NULL), 0, "open a store");
	is_int(plan_applied_load(&apps, st), 0, "load an empty applied state");
	is_int(apps->u.table.count, 0, "nothing applied yet");
	value_free(apps);

	memset(sha, 'a', 64);
	sha[64] = '\0';
	is_int(plan_record_applied(st, "web", sha, commit), 0, "record web");
	is_int(plan_record_applied(st, "db", sha, commit), 0, "record db");
	is_int(plan_record_applied(st, "x", "nothex", commit), FURROW_EINVAL,
	       "a malformed hash is refused");
	is_int(plan_applied_load(&apps, st), 0, "load again");
	is_int(apps->u.table.count, 2, "two apps applied");
	is_str(value_get(value_get(apps, "web"), "commit")->u.string.ptr,
	       commit, "web's commit");
	is_str(value_get(value_get(apps, "db"), "spec_sha256")->u.string.ptr,
	       sha, "db's spec hash");
	value_free(apps);
	is_int(plan_record_applied(st, "db", NULL, NULL), 0, "forget db");
	is_int(plan_applied_load(&apps, st), 0, "load once more");
	ok(apps->u.table.count == 1 && value_get(apps, "web"), "only web left");
	value_free(apps);
	is_int(plan_applied_load(&apps, NULL), 0, "no store: nothing applied");
	is_int(apps->u.table.count, 0, "empty");
	value_free(apps);
	store_free(st);
}

static void test_spec_hash_and_body(void)
{
	struct value *a = value_new(VALUE_TABLE), *b = value_new(VALUE_TABLE);
	struct strbuf s1 = STRBUF_INIT, s2 = STRBUF_INIT;
	struct plan_item items[2];
	struct plan p;
	char h1[65], h2[65];

	value_set_string(value_table_add_str(a, "kind", 4), "files", 5);
	value_set_string(value_table_add_str(a, "target", 6), "/etc/x", 6);
	value_set_string(value_table_add_str(b, "target", 6), "/etc/x", 6);
	value_set_string(value_table_add_str(b, "kind", 4), "files", 5);
	value_sort(a);
	value_sort(b);
	plan_spec_sha256(h1, a);
	plan_spec_sha256(h2, b);
	is_str(h1, h2, "spec hash does not depend on declaration order");
	value_set_string(value_table_add_str(b, "purge", 5), "x", 1);
	value_sort(b);
	plan_spec_sha256(h2, b);
	ok(strcmp(h1, h2) != 0, "and changes with the spec");

	memset(&p, 0, sizeof(p));
	memset(items, 0, sizeof(items));
	snprintf(p.commit, sizeof(p.commit), "%040d", 7);
	p.host = (char *)"edge-1";
	p.now = 1700000000;
	p.items = items;
	p.count = 2;
	items[0].app = (char *)"web";
	items[0].kind = (char *)"files";
	items[0].action = PLAN_CREATE;
	items[0].verdict = POLICY_DEFER;
	items[0].has_until = 1;
	items[0].until = 1700003600;
	items[0].policy = (char *)"std:x";
	items[0].reason = (char *)"say \"why\"";
	items[1].app = (char *)"old";
	items[1].action = PLAN_REMOVE;
	plan_body_json(&s1, &p);
	is_str(s1.buf, "{\"commit\":{\"id\":\"0000000000000000000000000000000000000007\","
	       "\"signer\":null,\"time\":0},\"host\":\"edge-1\",\"items\":["
	       "{\"action\":\"create\",\"adjust\":null,\"app\":\"web\",\"current_sha256\":null,"
	       "\"kind\":\"files\",\"policy\":\"std:x\",\"policy_sha256\":null,"
	       "\"reason\":\"say \\\"why\\\"\",\"spec_sha256\":null,"
	       "\"until\":1700003600,\"verdict\":\"defer\"},"
	       "{\"action\":\"remove\",\"adjust\":null,\"app\":\"old\",\"current_sha256\":null,"
	       "\"kind\":null,\"policy\":null,\"policy_sha256\":null,"
	       "\"reason\":null,\"spec_sha256\":null,\"until\":null,"
	       "\"verdict\":\"allow\"}],\"now\":1700000000,\"serial\":null,"
	       "\"summary\":{\"create\":0,\"deferred\":0,\"denied\":0,"
	       "\"remove\":0,\"unchanged\":0,\"update\":0},\"version\":1}",
	       "canonical body");
	snprintf(p.sha256, sizeof(p.sha256), "%064d", 1);
	plan_json(&s2, &p);
	ok(s2.len == s1.len + 82 && !strncmp(s2.buf, s1.buf, s1.len - 1) &&
	   s2.buf[s2.len - 1] == '\n', "--json is the body plus plan_sha256");
	strbuf_release(&s1);
	strbuf_release(&s2);
	value_free(a);
	value_free(b);
}

int main(void)
{
	test_combine();
	test_records();
	test_spec_hash_and_body();
	return tap_done();
}
