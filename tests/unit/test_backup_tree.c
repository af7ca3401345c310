/*
 * test_backup_tree.c - the snapshot manifest and record codecs
 * (backup_tree.h, backup_store.c): round trips, canonical varints, path
 * rules, and refusal of every truncation and of inconsistent extents.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup_int.h"
#include "error.h"
#include "strbuf.h"
#include "tap.h"

static void varints(void)
{
	static const uint64_t u[] = { 0, 1, 127, 128, 300, 16383, 16384,
				      UINT32_MAX, (uint64_t)1 << 62, UINT64_MAX };
	static const int64_t sv[] = { 0, -1, 1, -64, 63, INT64_MIN, INT64_MAX };
	struct strbuf sb = STRBUF_INIT;
	const unsigned char *p;
	uint64_t got;
	int64_t sgot;
	size_t i;
	int all = 1;

	for (i = 0; i < sizeof(u) / sizeof(*u); i++) {
		strbuf_reset(&sb);
		bt_put_uvarint(&sb, u[i]);
		p = (const unsigned char *)sb.buf;
		all &= !bt_get_uvarint(&p, p + sb.len, &got) && got == u[i] &&
		       p == (const unsigned char *)sb.buf + sb.len;
		/* Every truncation fails. */
		p = (const unsigned char *)sb.buf;
		if (sb.len > 1)
			all &= bt_get_uvarint(&p, p + sb.len - 1, &got) == -1;
	}
	ok(all, "unsigned varints round-trip; truncations fail");
	all = 1;
	for (i = 0; i < sizeof(sv) / sizeof(*sv); i++) {
		strbuf_reset(&sb);
		bt_put_svarint(&sb, sv[i]);
		p = (const unsigned char *)sb.buf;
		all &= !bt_get_svarint(&p, p + sb.len, &sgot) && sgot == sv[i];
	}
	ok(all, "signed varints round-trip (zigzag), extremes included");
	{
		static const unsigned char overlong[] = { 0x80, 0x00 };
		static const unsigned char too_big[] = { 0xff, 0xff, 0xff, 0xff,
			0xff, 0xff, 0xff, 0xff, 0xff, 0x02 };

		p = overlong;
		ok(bt_get_uvarint(&p, overlong + 2, &got) == -1,
		   "a non-canonical (overlong) varint is refused");
		p = too_big;
		ok(bt_get_uvarint(&p, too_big + 10, &got) == -1,
		   "a varint over 64 bits is refused");
	}
	strbuf_release(&sb);
}

static void paths(void)
{
	ok(bt_path_valid("d", 1) && bt_path_valid("d/a b/\n/x", 9),
	   "plain and odd (space, newline) names are valid");
	ok(!bt_path_valid("", 0) && !bt_path_valid("/d", 2) &&
	   !bt_path_valid("d/", 2) && !bt_path_valid("d//a", 4) &&
	   !bt_path_valid("d/../a", 6) && !bt_path_valid("..", 2) &&
	   !bt_path_valid("./d", 3) && !bt_path_valid("d\0a", 3),
	   "absolute, empty, . and .. components and NULs are invalid");
}

static void build_tree(struct strbuf *sb)
{
	struct bt_entry e;
	struct bt_extent x;

	bt_begin(sb);
	memset(&e, 0, sizeof(e));
	e.type = BT_DIR;
	e.path = "db";
	e.path_len = 2;
	e.mode = 0755;
	e.mtime_sec = -5; /* before 1970 */
	e.mtime_nsec = 999999999;
	bt_add_entry(sb, &e);
	e.type = BT_FILE;
	e.path = "db/file";
	e.path_len = 7;
	e.mode = 04750;
	e.size = 70000 + ((uint64_t)3 << 30);
	e.nextents = 2;
	e.uid = 1000;
	e.gid = 4294967295u;
	e.ino = 77;
	bt_add_entry(sb, &e);
	memset(&x, 0, sizeof(x));
	x.len = 70000;
	memset(x.id, 0xab, sizeof(x.id));
	bt_add_extent(sb, &x);
	x.len = (uint64_t)3 << 30;
	x.hole = 1;
	bt_add_extent(sb, &x);
	memset(&e, 0, sizeof(e));
	e.type = BT_SYMLINK;
	e.path = "db/l";
	e.path_len = 4;
	e.mode = 0777;
	e.target = "../../etc/passwd";
	e.target_len = 16;
	bt_add_entry(sb, &e);
	e.type = BT_HARDLINK;
	e.path = "db/h";
	e.target = "db/file";
	e.target_len = 7;
	bt_add_entry(sb, &e);
}

static void tree_round_trip(void)
{
	struct strbuf sb = STRBUF_INIT;
	struct bt_reader r;
	struct bt_entry e;
	struct bt_extent_reader xr;
	struct bt_extent x;
	size_t cut;
	int ret, n = 0, all = 1;

	build_tree(&sb);
	ok(!bt_reader_init(&r, sb.buf, sb.len), "the tree opens");
	while ((ret = bt_next(&r, &e)) == 1) {
		n++;
		if (e.type == BT_FILE) {
			all &= e.mode == 04750 && e.gid == 4294967295u &&
			       e.nextents == 2;
			bt_extents(&xr, &e);
			all &= bt_extent_next(&xr, &x) == 1 && !x.hole &&
			       x.len == 70000 && x.id[31] == 0xab;
			all &= bt_extent_next(&xr, &x) == 1 && x.hole &&
			       x.len == (uint64_t)3 << 30;
			all &= bt_extent_next(&xr, &x) == 0;
		}
		if (e.type == BT_DIR)
			all &= e.mtime_sec == -5 && e.mtime_nsec == 999999999;
	}
	is_int(ret, 0, "the tree ends cleanly");
	is_int(n, 4, "four entries");
	ok(all, "attributes and extents come back as written");

	/* Every truncation is refused or ends early at an entry boundary,
	 * never read past the end (ASan watches). */
	for (cut = 0; cut < sb.len; cut++) {
		char *copy = malloc(cut ? cut : 1);

		memcpy(copy, sb.buf, cut);
		if (!bt_reader_init(&r, copy, cut))
			while ((ret = bt_next(&r, &e)) == 1)
				;
		else
			ret = -1;
		error_clear();
		free(copy);
		all &= ret <= 0;
	}
	ok(all, "every truncation decodes safely (or is refused)");

	/* Extents that do not add up to the size are refused. */
	{
		struct strbuf bad = STRBUF_INIT;
		struct bt_entry f;
		struct bt_extent y;

		bt_begin(&bad);
		memset(&f, 0, sizeof(f));
		f.type = BT_FILE;
		f.path = "f";
		f.path_len = 1;
		f.size = 10;
		f.nextents = 1;
		bt_add_entry(&bad, &f);
		memset(&y, 0, sizeof(y));
		y.len = 9;
		y.hole = 1;
		bt_add_extent(&bad, &y);
		bt_reader_init(&r, bad.buf, bad.len);
		is_int(bt_next(&r, &e), FURROW_ESYNTAX,
		       "extents short of the size are refused");
		ok(strstr(error_message(), "add up") != NULL, "message: %s",
		   error_message());
		strbuf_release(&bad);
	}
	strbuf_release(&sb);
}

static void record_round_trip(void)
{
	struct backup_record r, back;
	struct strbuf sb = STRBUF_INIT, again = STRBUF_INIT;
	char p0[] = "db", p1[] = "cache/sub";
	char *paths[] = { p0, p1 };
	struct bt_extent tree[2];

	memset(&r, 0, sizeof(r));
	memset(tree, 0, sizeof(tree));
	r.info.id = 42;
	r.info.time = 1795770000;
	snprintf(r.info.app, sizeof(r.info.app), "web");
	snprintf(r.info.tag, sizeof(r.info.tag), "pre-update");
	snprintf(r.info.commit, sizeof(r.info.commit), "%040d", 7);
	r.info.files = 3;
	r.info.bytes = 1u << 20;
	r.paths = paths;
	r.npaths = 2;
	tree[0].len = 1000;
	tree[1].len = 24;
	memset(tree[1].id, 7, sizeof(tree[1].id));
	r.tree = tree;
	r.ntree = 2;
	r.tree_len = 1024;
	record_encode(&sb, &r);
	ok(!record_decode(&back, sb.buf, sb.len), "the record decodes");
	ok(back.info.id == 42 && !strcmp(back.info.app, "web") &&
	   !strcmp(back.info.tag, "pre-update") && back.npaths == 2 &&
	   !strcmp(back.paths[1], "cache/sub") && back.ntree == 2 &&
	   back.tree[1].id[5] == 7 && back.tree_len == 1024,
	   "its fields come back");
	record_encode(&again, &back);
	ok(again.len == sb.len && !memcmp(again.buf, sb.buf, sb.len),
	   "and encode to the same bytes");
	record_release(&back);
	ok(record_decode(&back, sb.buf, sb.len - 1) == FURROW_ESYNTAX,
	   "a truncated record is refused");
	error_clear();
	strbuf_release(&sb);
	strbuf_release(&again);
}

int main(void)
{
	varints();
	paths();
	tree_round_trip();
	record_round_trip();
	return tap_done();
}
