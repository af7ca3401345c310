/*
 * cmd_backup.c - `furrow backup ...`: keys, snapshots, listing,
 * verification, restores, drills, retention and the offsite copy.
 *
 * `now` and `drill` run what the app's spec asks (pre hook, stop) through
 * the apply engine, so they need the state dir; when a daemon holds it
 * they are asked of the daemon over its control socket, like `rollback`.
 * The others only need the backup store, whose own lock they wait for.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apply.h"
#include "backup.h"
#include "backup_key.h"
#include "bug.h"
#include "cmd.h"
#include "config.h"
#include "control.h"
#include "error.h"
#include "store.h"
#include "strbuf.h"
#include "banned.h"

/* Waiting for another backup operation on the store. */
#define STORE_WAIT_SECONDS 600u
/* A snapshot or a drill through the daemon may take long. */
#define DAEMON_WAIT_MS (6u * 3600 * 1000)

static int backup_help(void)
{
	fputs("usage: furrow [-c FILE] backup COMMAND [ARGS]\n\n"
	      "  key FILE                    create a new backup key (0600)\n"
	      "  now [APP...]                snapshot now (every app with a\n"
	      "                              backup when none is named)\n"
	      "  list [APP] [--offsite] [--json]\n"
	      "                              snapshots, oldest first\n"
	      "  verify [--read-data[=PERCENT]] [--offsite]\n"
	      "                              check the store (and read that\n"
	      "                              share of the chunks, 100 if no\n"
	      "                              PERCENT) or the offsite copy\n"
	      "  restore APP SNAPSHOT --to DIR [--from-offsite]\n"
	      "                              SNAPSHOT is an id or \"latest\";\n"
	      "                              DIR must be new or empty\n"
	      "  drill APP                   restore the newest snapshot into\n"
	      "                              a scratch dir, check it, time it\n"
	      "  prune [APP...]              apply keep / keep_daily /\n"
	      "                              keep_weekly, collect garbage\n"
	      "  forget APP SNAPSHOT         delete one snapshot\n"
	      "  upload                      copy what is queued offsite\n\n"
	      "Exit: 0 done, 1 error, 2 usage, 3 verification failed (wrong\n"
	      "key, or verify found a problem: each is printed).\n", stdout);
	return EXIT_OK;
}

/* The state store read-write, or NULL when a daemon holds it. */
static int state_open(const struct config *cfg, struct store **st,
		      int *daemon)
{
	int ret = store_open(st, cfg->state_dir, NULL);

	*daemon = 0;
	if (ret == FURROW_EBUSY) {
		error_clear();
		*daemon = 1;
		return 0;
	}
	return ret;
}

static int via_daemon(const struct config *cfg, const char *verb,
		      const char *app, struct strbuf *reply)
{
	int ok = 0, ret = control_request(cfg->state_dir, verb, app,
					  DAEMON_WAIT_MS, reply, &ok);

	/* The daemon answers in words: the failures that are a failed
	 * check (exit 3 when run here) keep that meaning. */
	if (!ret && !ok)
		ret = error_set(strstr(reply->buf, "drill failed") ||
				strstr(reply->buf, "another backup key") ||
				strstr(reply->buf, "authentication failed") ?
				FURROW_EVERIFY : FURROW_ERR, "%s", reply->buf);
	return ret;
}

static int do_key(int argc, char **argv)
{
	int ret;

	if (argc != 2 || argv[1][0] == '-')
		return cmd_usage_error("backup key", "give the key file to "
				       "create");
	if ((ret = backup_key_generate(argv[1]))) {
		cmd_error(NULL);
		return cmd_exit_for(ret);
	}
	printf("created %s: keep a copy off this host; without it no "
	       "snapshot can be restored\n", argv[1]);
	return EXIT_OK;
}

static int do_now(const struct config *cfg, int argc, char **argv)
{
	struct store *st = NULL;
	struct strbuf reply = STRBUF_INIT;
	char (*apps)[64] = NULL;
	size_t n = 0, i;
	int daemon, ret, failed = 0, code = EXIT_OK;

	/* Usage first: nothing opened yet to let go of. */
	for (i = 1; i < (size_t)argc; i++)
		if (argv[i][0] == '-')
			return cmd_usage_error("backup now", "unknown option "
					       "'%s'", argv[i]);
	if ((ret = state_open(cfg, &st, &daemon)))
		goto fail;
	if (argc > 1) {
		apps = calloc((size_t)argc, sizeof(*apps));
		if (!apps)
			BUG("out of memory");
		for (i = 1; i < (size_t)argc; i++)
			snprintf(apps[n++], 64, "%s", argv[i]);
	} else {
		struct store_options ro = { STORE_READ_ONLY, 0, 0,
					    STORE_KIND_STATE };
		struct store *rst = st;

		if (daemon && (ret = store_open(&rst, cfg->state_dir, &ro)))
			goto fail;
		ret = apply_backup_apps(cfg, rst, &apps, &n);
		if (rst != st)
			store_free(rst);
		if (ret)
			goto fail;
		if (!n)
			fprintf(stderr, "furrow: no applied app declares a "
				"backup\n");
	}
	for (i = 0; i < n; i++) {
		struct backup_info info;

		if (daemon) {
			ret = via_daemon(cfg, "backup", apps[i], &reply);
			if (!ret)
				printf("%s: %s\n", apps[i], reply.buf);
		} else {
			ret = apply_backup(cfg, st, apps[i], "manual", &info);
			if (!ret)
				printf("%s: snapshot %llu: %llu files, %llu bytes "
				       "(%llu read), %llu new bytes stored in "
				       "%.2f s\n", apps[i],
				       (unsigned long long)info.id,
				       (unsigned long long)info.files,
				       (unsigned long long)info.bytes,
				       (unsigned long long)info.read_bytes,
				       (unsigned long long)info.new_bytes,
				       info.seconds);
		}
		if (ret) {
			cmd_error(apps[i]);
			failed = ret;
		}
	}
	code = failed ? cmd_exit_for(failed) : EXIT_OK;
	goto out;
fail:
	cmd_error(NULL);
	code = cmd_exit_for(ret);
out:
	free(apps);
	strbuf_release(&reply);
	store_free(st);
	return code;
}

static void print_infos(const struct backup_info *v, size_t n, int json)
{
	struct strbuf sb = STRBUF_INIT;
	size_t i;

	if (json)
		strbuf_addch(&sb, '[');
	for (i = 0; i < n; i++) {
		if (json) {
			strbuf_addf(&sb, "%s{\"id\":%llu", i ? "," : "",
				    (unsigned long long)v[i].id);
			cmd_json_str(&sb, "app", v[i].app, 0);
			strbuf_addf(&sb, ",\"time\":%lld", v[i].time);
			cmd_json_str(&sb, "tag", v[i].tag, 0);
			cmd_json_str(&sb, "commit", v[i].commit[0] ?
				     v[i].commit : NULL, 0);
			strbuf_addf(&sb, ",\"files\":%llu,\"bytes\":%llu}",
				    (unsigned long long)v[i].files,
				    (unsigned long long)v[i].bytes);
		} else {
			strbuf_addf(&sb, "%-6llu ", (unsigned long long)v[i].id);
			cmd_add_time(&sb, v[i].time);
			strbuf_addf(&sb, "  %-16s %-15s %8llu files %14llu bytes"
				    "%s%.12s\n", v[i].app, v[i].tag,
				    (unsigned long long)v[i].files,
				    (unsigned long long)v[i].bytes,
				    v[i].commit[0] ? "  " : "", v[i].commit);
		}
	}
	if (json)
		strbuf_addstr(&sb, "]\n");
	fwrite(sb.buf, 1, sb.len, stdout);
	strbuf_release(&sb);
}

static int do_list(const struct config *cfg, int argc, char **argv)
{
	struct backup_store *bs = NULL;
	struct backup_info *v = NULL;
	const char *app = NULL;
	size_t n = 0;
	int json = 0, offsite = 0, ret;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (!strcmp(argv[i], "--offsite"))
			offsite = 1;
		else if (argv[i][0] == '-' || app)
			return cmd_usage_error("backup list", "unknown argument "
					       "'%s'", argv[i]);
		else
			app = argv[i];
	}
	if (offsite)
		ret = backup_list_offsite(cfg, app, &v, &n);
	else if (!(ret = backup_open(&bs, cfg, 0, 0)))
		ret = backup_list(bs, app, &v, &n);
	if (ret == FURROW_ENOENT && !offsite && !bs) {
		error_clear(); /* no backup store yet: nothing to list */
		ret = 0;
	}
	if (!ret)
		print_infos(v, n, json);
	else
		cmd_error(NULL);
	free(v);
	backup_close(bs);
	return cmd_exit_for(ret);
}

static void print_problem(void *arg, const char *line)
{
	(void)arg;
	printf("problem: %s\n", line);
}

static int do_verify(const struct config *cfg, int argc, char **argv)
{
	struct backup_store *bs = NULL;
	struct backup_verify_result r;
	unsigned percent = 0;
	int offsite = 0, ret;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--read-data")) {
			percent = 100;
		} else if (!strncmp(argv[i], "--read-data=", 12)) {
			char *end;
			unsigned long p = strtoul(argv[i] + 12, &end, 10);

			if (!argv[i][12] || *end || p < 1 || p > 100)
				return cmd_usage_error("backup verify",
						       "--read-data=PERCENT "
						       "takes 1 to 100");
			percent = (unsigned)p;
		} else if (!strcmp(argv[i], "--offsite")) {
			offsite = 1;
		} else {
			return cmd_usage_error("backup verify", "unknown "
					       "argument '%s'", argv[i]);
		}
	}
	if (offsite)
		ret = backup_verify_offsite(cfg, percent, print_problem, NULL, &r);
	else if (!(ret = backup_open(&bs, cfg, 1, STORE_WAIT_SECONDS)))
		ret = backup_verify(bs, percent, print_problem, NULL, &r);
	backup_close(bs);
	if (ret) {
		cmd_error(NULL);
		return cmd_exit_for(ret);
	}
	if (r.removed)
		printf("%llu corrupt chunks removed from the store: the next "
		       "snapshot of a file that still holds their bytes stores "
		       "them again\n", (unsigned long long)r.removed);
	printf("%s%llu snapshots, %llu chunks referenced or stored, %llu read "
	       "and checked: %llu problems\n", offsite ? "offsite: " : "",
	       (unsigned long long)r.snapshots,
	       (unsigned long long)r.chunks_total,
	       (unsigned long long)r.chunks_checked,
	       (unsigned long long)r.problems);
	return r.problems ? EXIT_VERIFY : EXIT_OK;
}

static int do_restore(const struct config *cfg, int argc, char **argv)
{
	struct backup_store *bs = NULL;
	struct backup_restore_stats stats;
	struct backup_info info;
	const char *app = NULL, *which = NULL, *to = NULL;
	int offsite = 0, ret;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--to") && i + 1 < argc)
			to = argv[++i];
		else if (!strncmp(argv[i], "--to=", 5))
			to = argv[i] + 5;
		else if (!strcmp(argv[i], "--from-offsite"))
			offsite = 1;
		else if (argv[i][0] == '-')
			return cmd_usage_error("backup restore", "unknown option "
					       "'%s'", argv[i]);
		else if (!app)
			app = argv[i];
		else if (!which)
			which = argv[i];
		else
			return cmd_usage_error("backup restore", "unexpected "
					       "'%s'", argv[i]);
	}
	if (!app || !which || !to || !*to)
		return cmd_usage_error("backup restore", "usage: backup restore "
				       "APP SNAPSHOT --to DIR");
	if (offsite) {
		ret = backup_restore_offsite(cfg, app, which, to, &stats, &info);
	} else if (!(ret = backup_open(&bs, cfg, 0, 0)) &&
		   !(ret = backup_find(bs, app, which, &info))) {
		ret = backup_restore(bs, app, info.id, to, &stats);
	}
	backup_close(bs);
	if (ret) {
		cmd_error(NULL);
		return cmd_exit_for(ret);
	}
	printf("%s: snapshot %llu restored into %s: %llu files, %llu bytes in "
	       "%.2f s\n", app, (unsigned long long)info.id, to,
	       (unsigned long long)stats.files, (unsigned long long)stats.bytes,
	       stats.seconds);
	return EXIT_OK;
}

static int do_drill(const struct config *cfg, int argc, char **argv)
{
	struct store *st = NULL;
	struct strbuf reply = STRBUF_INIT;
	struct backup_drill_result dr;
	int daemon, ret;

	if (argc != 2 || argv[1][0] == '-')
		return cmd_usage_error("backup drill", "which app?");
	if (!(ret = state_open(cfg, &st, &daemon))) {
		if (daemon) {
			ret = via_daemon(cfg, "drill", argv[1], &reply);
			if (!ret)
				printf("%s: %s\n", argv[1], reply.buf);
		} else {
			ret = apply_drill(cfg, st, argv[1], &dr);
			if (!ret && !dr.ok)
				ret = error_set(FURROW_EVERIFY, "app %s: drill of "
						"snapshot %llu failed: %s",
						argv[1],
						(unsigned long long)dr.snapshot,
						dr.why);
			if (!ret)
				printf("%s: drill of snapshot %llu passed: %llu "
				       "files, %llu bytes restored and checked "
				       "in %.2f s (RTO)\n", argv[1],
				       (unsigned long long)dr.snapshot,
				       (unsigned long long)dr.files,
				       (unsigned long long)dr.bytes, dr.seconds);
		}
	}
	if (ret)
		cmd_error(NULL);
	strbuf_release(&reply);
	store_free(st);
	return cmd_exit_for(ret);
}

static int do_prune(const struct config *cfg, int argc, char **argv)
{
	struct store_options ro = { STORE_READ_ONLY, 0, 0, STORE_KIND_STATE };
	struct store *st = NULL;
	char (*apps)[64] = NULL;
	size_t n = 0, i;
	int ret, failed = 0;

	if ((ret = store_open(&st, cfg->state_dir, &ro)))
		goto out;
	if (argc > 1) {
		apps = calloc((size_t)argc, sizeof(*apps));
		for (i = 1; i < (size_t)argc; i++)
			snprintf(apps[n++], 64, "%s", argv[i]);
	} else if ((ret = apply_backup_apps(cfg, st, &apps, &n))) {
		goto out;
	}
	for (i = 0; i < n; i++) {
		struct backup_prune_result r;

		ret = apply_backup_prune(cfg, st, apps[i], &r);
		if (ret) {
			cmd_error(apps[i]);
			failed = ret;
			continue;
		}
		printf("%s: %llu snapshots removed, %llu chunks (%llu bytes) "
		       "collected\n", apps[i],
		       (unsigned long long)r.snapshots_removed,
		       (unsigned long long)r.chunks_removed,
		       (unsigned long long)r.bytes_freed);
	}
	ret = failed;
	free(apps);
	store_free(st);
	return cmd_exit_for(ret);
out:
	cmd_error(NULL);
	free(apps);
	store_free(st);
	return cmd_exit_for(ret);
}

static int do_forget(const struct config *cfg, int argc, char **argv)
{
	struct backup_store *bs = NULL;
	char *end;
	unsigned long long id;
	int ret;

	if (argc != 3)
		return cmd_usage_error("backup forget", "usage: backup forget "
				       "APP SNAPSHOT");
	id = strtoull(argv[2], &end, 10);
	if (!argv[2][0] || *end || !id)
		return cmd_usage_error("backup forget", "SNAPSHOT is an id");
	if (!(ret = backup_open(&bs, cfg, 1, STORE_WAIT_SECONDS)))
		ret = backup_forget(bs, argv[1], id);
	backup_close(bs);
	if (ret) {
		cmd_error(NULL);
		return cmd_exit_for(ret);
	}
	printf("%s: snapshot %llu deleted\n", argv[1], id);
	return EXIT_OK;
}

static int do_upload(const struct config *cfg, int argc, char **argv)
{
	struct backup_store *bs = NULL;
	struct backup_upload_result r;
	int ret;

	(void)argv;
	if (argc != 1)
		return cmd_usage_error("backup upload", "takes no argument");
	if (!(ret = backup_open(&bs, cfg, 1, STORE_WAIT_SECONDS)))
		ret = backup_upload(bs, cfg, &r);
	backup_close(bs);
	if (ret) {
		cmd_error(NULL);
		return cmd_exit_for(ret);
	}
	printf("offsite: %llu objects (%llu bytes) copied and read back, %llu "
	       "pending\n", (unsigned long long)r.objects,
	       (unsigned long long)r.bytes, (unsigned long long)r.pending);
	return EXIT_OK;
}

static const struct {
	const char *name;
	int (*fn)(const struct config *cfg, int argc, char **argv);
} subs[] = {
	{ "now", do_now },
	{ "list", do_list },
	{ "verify", do_verify },
	{ "restore", do_restore },
	{ "drill", do_drill },
	{ "prune", do_prune },
	{ "forget", do_forget },
	{ "upload", do_upload },
};

int cmd_backup(struct cmd_context *ctx, int argc, char **argv)
{
	struct config *cfg = NULL;
	size_t i;
	int code;

	if (argc < 2 || cmd_is_help(argv[1]))
		return argc < 2 ? (backup_help(), EXIT_USAGE) : backup_help();
	for (int k = 2; k < argc; k++)
		if (cmd_is_help(argv[k]))
			return backup_help();
	if (!strcmp(argv[1], "key"))
		return do_key(argc - 1, argv + 1);
	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (!strcmp(argv[1], subs[i].name))
			break;
	if (i == sizeof(subs) / sizeof(subs[0]))
		return cmd_usage_error("backup", "unknown backup command '%s' "
				       "(see furrow backup --help)", argv[1]);
	if ((code = cmd_load_config(ctx, &cfg)))
		return code;
	code = subs[i].fn(cfg, argc - 1, argv + 1);
	config_free(cfg);
	return code;
}
