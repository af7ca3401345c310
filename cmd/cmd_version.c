/*
 * cmd_version.c - `furrow version [--json]`: furrow's version and git
 * revision, and each linked library's version as the library reports
 * it at run time (not the headers furrow was compiled against).
 */
#include <stdio.h>
#include <string.h>

#include "build_rev.h"
#include "compress.h"
#include "gitsync.h"
#include "http.h"
#include "json.h"
#include "sandbox.h"
#include "store.h"
#include "strbuf.h"
#include "verify.h"
#include "cmd.h"
#include "banned.h"

#ifndef FURROW_VERSION
#define FURROW_VERSION "0.0.0"
#endif

struct lib_version {
	const char *name;
	const char *(*version)(void);
};

static const char *lua_v(void)
{
	/* "Lua 5.4.4" -> "5.4.4" */
	const char *v = sandbox_lua_version();

	return strncmp(v, "Lua ", 4) ? v : v + 4;
}

static const struct lib_version libs[] = {
	{ "libgit2", gitsync_libgit2_version },
	{ "libcurl", http_curl_version },
	{ "mbedtls", verify_mbedtls_version },
	{ "libsodium", verify_sodium_version },
	{ "lua", lua_v },
	{ "lmdb", store_lmdb_version },
	{ "zlib", http_zlib_version },
	{ "zstd", compress_zstd_version },
	{ "cjson", json_cjson_version },
};

#define NLIBS (sizeof(libs) / sizeof(*libs))

static int version_help(void)
{
	fputs("usage: furrow version [--json]\n\n"
	      "Print furrow's version and git revision and the version of each\n"
	      "linked library, as reported by the library at run time.\n", stdout);
	return EXIT_OK;
}

int cmd_version(struct cmd_context *ctx, int argc, char **argv)
{
	struct strbuf sb = STRBUF_INIT;
	int json = 0;

	(void)ctx;
	for (int i = 1; i < argc; i++) {
		if (cmd_is_help(argv[i]))
			return version_help();
		else if (!strcmp(argv[i], "--json"))
			json = 1;
		else
			return cmd_usage_error("version", "unknown argument '%s'",
					       argv[i]);
	}
	if (json) {
		strbuf_addstr(&sb, "{\"furrow\":");
		strbuf_add_json_string(&sb, FURROW_VERSION, strlen(FURROW_VERSION));
		strbuf_addstr(&sb, ",\"git_revision\":");
		strbuf_add_json_string(&sb, FURROW_GIT_REV, strlen(FURROW_GIT_REV));
		strbuf_addstr(&sb, ",\"libraries\":{");
		for (size_t i = 0; i < NLIBS; i++) {
			const char *v = libs[i].version();

			if (i)
				strbuf_addch(&sb, ',');
			strbuf_add_json_string(&sb, libs[i].name,
					       strlen(libs[i].name));
			strbuf_addch(&sb, ':');
			strbuf_add_json_string(&sb, v, strlen(v));
		}
		strbuf_addstr(&sb, "},\"tls\":");
		strbuf_add_json_string(&sb, http_tls_backend(),
				       strlen(http_tls_backend()));
		strbuf_addstr(&sb, "}\n");
	} else {
		strbuf_addf(&sb, "furrow %s (%s)\n", FURROW_VERSION, FURROW_GIT_REV);
		for (size_t i = 0; i < NLIBS; i++)
			strbuf_addf(&sb, "  %-10s %s\n", libs[i].name,
				    libs[i].version());
		strbuf_addf(&sb, "  %-10s %s\n", "tls", http_tls_backend());
	}
	fwrite(sb.buf, 1, sb.len, stdout);
	strbuf_release(&sb);
	return EXIT_OK;
}
