/*
 * cmd_check.c - `furrow check [--json]`: load and validate the agent
 * config and print it normalised (defaults filled in, paths absolute).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "appspec.h"
#include "config.h"
#include "desired.h"
#include "error.h"
#include "limits.h"
#include "repopath.h"
#include "strbuf.h"
#include "value.h"
#include "cmd.h"
#include "banned.h"

static int check_help(void)
{
	fputs("usage: furrow [-c FILE] check [--json] [--quiet]\n"
	      "       furrow check --tree DIR [--quiet]\n\n"
	      "Validate the agent config and print it normalised: every key,\n"
	      "defaults filled in, relative paths made absolute.  Errors name\n"
	      "the file, the line and the key.  Exit 0 if valid, 1 if not.\n"
	      "\n"
	      "With --tree, validate a desired-state working tree offline instead\n"
	      "(no agent config needed): evaluate DIR/furrow.lua, check every app\n"
	      "against the app schema and that each repository policy file and its\n"
	      ".sig exist; print the serial, the policies and the apps in the order\n"
	      "they would be applied.  The .lua files under DIR (hidden\n"
	      "directories and symlinks aside) are what furrow.lua may include.\n"
	      "Signatures are checked by furrow sync and\n"
	      "furrow verify, not here.\n"
	      "\n"
	      "  --json    print the normalised config as JSON\n"
	      "  --quiet   print nothing on success\n", stdout);
	return EXIT_OK;
}

/* Read DIR/path, refusing what the repository reader would refuse. */
static int read_tree_file(struct strbuf *sb, const char *dir, const char *path)
{
	struct strbuf full = STRBUF_INIT;
	int ret;

	strbuf_addf(&full, "%s/%s", dir, path);
	ret = strbuf_read_file(sb, full.buf, LIMIT_DESIRED_FILE_BYTES);
	strbuf_release(&full);
	return ret;
}

/*
 * The .lua files under DIR that furrow.lua may include, as the read
 * child offers a commit's (core/sync.c): regular files only (symlinks
 * are not followed), hidden directories such as .git skipped, furrow.lua
 * itself left out, within the include limits.
 */
struct lua_walk {
	struct strbuf full;     /* DIR/rel */
	size_t root_len;        /* of "DIR/" */
	struct value *files;
	size_t entries, file_count, bytes;
	struct strbuf sb;
};

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && !strcmp(s + n - m, suffix);
}

static int walk_file(struct lua_walk *w)
{
	const char *rel = w->full.buf + w->root_len;
	int ret;

	if (!strcmp(rel, "furrow.lua"))
		return 0;
	/* A name no include could spell is no candidate either. */
	if (repopath_check(rel)) {
		error_clear();
		return 0;
	}
	if (++w->file_count > LIMIT_DESIRED_INCLUDE_FILES)
		return error_set(FURROW_ELIMIT, "more than %d .lua files in the "
				 "tree (the limit of files furrow.lua may "
				 "include from)", LIMIT_DESIRED_INCLUDE_FILES);
	strbuf_reset(&w->sb);
	if ((ret = strbuf_read_file(&w->sb, w->full.buf,
				    LIMIT_DESIRED_FILE_BYTES)))
		return ret;
	w->bytes += w->sb.len;
	if (w->bytes > LIMIT_DESIRED_INCLUDE_BYTES)
		return error_set(FURROW_ELIMIT, "the .lua files of the tree are "
				 "more than %u bytes in all (the limit of files "
				 "furrow.lua may include from)",
				 LIMIT_DESIRED_INCLUDE_BYTES);
	value_set_string(value_table_add_str(w->files, rel, strlen(rel)),
			 w->sb.buf, w->sb.len);
	return 0;
}

static int walk_dir(struct lua_walk *w, int depth)
{
	size_t len = w->full.len;
	struct dirent *d;
	DIR *dp;
	int ret = 0;

	if (depth > LIMIT_GIT_PATH_DEPTH)
		return error_set(FURROW_ELIMIT, "%s: more than %d directories "
				 "deep", w->full.buf, LIMIT_GIT_PATH_DEPTH);
	dp = opendir(w->full.buf);
	if (!dp)
		return error_errno(FURROW_ERR, "%s", w->full.buf);
	while (!ret && (errno = 0, d = readdir(dp))) {
		struct stat st;

		if (d->d_name[0] == '.')
			continue;
		if (++w->entries > LIMIT_GIT_WALK_ENTRIES) {
			ret = error_set(FURROW_ELIMIT, "%s: more than %u entries "
					"under the tree", w->full.buf,
					LIMIT_GIT_WALK_ENTRIES);
			break;
		}
		strbuf_setlen(&w->full, len);
		strbuf_addf(&w->full, "/%s", d->d_name);
		if (w->full.len - w->root_len > LIMIT_GIT_PATH_BYTES)
			continue;
		if (fstatat(dirfd(dp), d->d_name, &st, AT_SYMLINK_NOFOLLOW)) {
			ret = error_errno(FURROW_ERR, "%s", w->full.buf);
			break;
		}
		if (S_ISDIR(st.st_mode))
			ret = walk_dir(w, depth + 1);
		else if (S_ISREG(st.st_mode) && ends_with(d->d_name, ".lua"))
			ret = walk_file(w);
	}
	if (!ret && errno)
		ret = error_errno(FURROW_ERR, "%s", w->full.buf);
	closedir(dp);
	strbuf_setlen(&w->full, len);
	return ret;
}

static int read_tree_lua(struct value **out, const char *dir)
{
	struct lua_walk w;
	int ret;

	memset(&w, 0, sizeof(w));
	strbuf_init(&w.full, 0);
	strbuf_init(&w.sb, 0);
	strbuf_addstr(&w.full, dir);
	w.root_len = w.full.len + 1;
	w.files = value_new(VALUE_TABLE);
	ret = walk_dir(&w, 0);
	if (!ret)
		value_sort(w.files);
	if (ret) {
		value_free(w.files);
		w.files = NULL;
	}
	*out = w.files;
	strbuf_release(&w.full);
	strbuf_release(&w.sb);
	return ret;
}

static int check_tree(const char *dir, int quiet)
{
	struct strbuf text = STRBUF_INIT, sig = STRBUF_INIT, sb = STRBUF_INIT;
	struct desired_summary *sum = NULL;
	struct appspec_list *apps = NULL;
	struct value *files = NULL;
	int ret;

	if ((ret = read_tree_file(&text, dir, "furrow.lua")) ||
	    (ret = read_tree_lua(&files, dir)) ||
	    (ret = desired_summary_load_tree(&sum, "furrow.lua", text.buf,
					     text.len, files)) ||
	    (ret = appspec_parse_all(&apps, "furrow.lua", sum)))
		goto out;
	for (size_t i = 0; i < sum->policy_count; i++) {
		const char *name = sum->policies[i].name;

		if (!desired_policy_is_repo_file(&sum->policies[i]))
			continue;
		strbuf_reset(&text);
		strbuf_reset(&sig);
		strbuf_addf(&sig, "%s.sig", name);
		if ((ret = read_tree_file(&text, dir, name)) ||
		    (ret = read_tree_file(&text, dir, sig.buf))) {
			ret = error_prefix(ret, "furrow.lua: policy %s", name);
			goto out;
		}
	}
	if (sum->has_serial)
		strbuf_addf(&sb, "serial   %lld\n", sum->serial);
	else
		strbuf_addstr(&sb, "serial   (none: counts as 0)\n");
	for (size_t i = 0; i < sum->policy_count; i++)
		strbuf_addf(&sb, "policy   %s\n", sum->policies[i].name);
	for (size_t i = 0; i < apps->count; i++)
		strbuf_addf(&sb, "app      %s (%s)\n", apps->apps[i]->name,
			    appspec_kind_name(apps->apps[i]->kind));
	if (!quiet)
		fwrite(sb.buf, 1, sb.len, stdout);
out:
	appspec_list_free(apps);
	value_free(files);
	desired_summary_free(sum);
	strbuf_release(&text);
	strbuf_release(&sig);
	strbuf_release(&sb);
	if (ret)
		cmd_error(NULL);
	return ret ? EXIT_FAILURE_ : EXIT_OK;
}

int cmd_check(struct cmd_context *ctx, int argc, char **argv)
{
	struct strbuf sb = STRBUF_INIT;
	struct config *cfg = NULL;
	const char *path, *tree = NULL;
	int json = 0, quiet = 0;

	for (int i = 1; i < argc; i++) {
		if (cmd_is_help(argv[i]))
			return check_help();
		else if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (!strcmp(argv[i], "--quiet") || !strcmp(argv[i], "-q"))
			quiet = 1;
		else if (!strcmp(argv[i], "--tree") && i + 1 < argc)
			tree = argv[++i];
		else
			return cmd_usage_error("check", "unknown argument '%s'",
					       argv[i]);
	}
	if (tree)
		return check_tree(tree, quiet);
	path = config_choose_path(ctx->config_path);
	if (config_load(&cfg, path)) {
		cmd_error(NULL);
		return EXIT_FAILURE_;
	}
	if (!quiet) {
		if (json)
			config_format_json(&sb, cfg);
		else
			config_format_lua(&sb, cfg);
		fwrite(sb.buf, 1, sb.len, stdout);
	}
	strbuf_release(&sb);
	config_free(cfg);
	return EXIT_OK;
}
