/*
 * test_config.c - core/config.c: a full config, defaults, every kind of
 * error (file, line, key path), limits, normalised output round trips,
 * and which file is chosen.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "error.h"
#include "json.h"
#include "limits.h"
#include "log.h"
#include "strbuf.h"
#include "tap.h"
#include "value.h"

static char etc[512];       /* tmpdir/etc: the config and its files */
static char cfg_name[600];  /* tmpdir/etc/agent.lua */

static void path_in(char *buf, size_t size, const char *rel)
{
	snprintf(buf, size, "%s/%s", etc, rel);
}

static void write_file(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "w");

	if (!f || fwrite(text, 1, len, f) != len || fclose(f)) {
		perror(path);
		exit(99);
	}
}

static void write_in(const char *rel, const char *text)
{
	char p[700];

	path_in(p, sizeof(p), rel);
	write_file(p, text, strlen(text));
}

static void setup_files(void)
{
	char p[700];

	snprintf(etc, sizeof(etc), "%s/etc", tap_tmpdir());
	if (mkdir(etc, 0755)) {
		perror(etc);
		exit(99);
	}
	path_in(p, sizeof(p), "tokens");
	if (mkdir(p, 0755)) {
		perror(p);
		exit(99);
	}
	snprintf(cfg_name, sizeof(cfg_name), "%s/agent.lua", etc);
	write_in("signers", "ssh-ed25519 AAAA signer\n");
	write_in("policy", "ssh-ed25519 AAAA policy\n");
	write_in("ca.pem", "-----BEGIN CERTIFICATE-----\n");
	write_in("tokens/git.token", "secret\n");
	write_in("tokens/report.token", "secret\n");
	write_in("tokens/offsite.token", "secret\n");
	write_in("backup.key", "key\n");
}

/* Load text as if it were tmpdir/etc/agent.lua. */
static int load(struct config **out, const char *text)
{
	return config_load_text(out, cfg_name, text, strlen(text));
}

/* The text must fail with code, and the message must contain every one of
 * the NULL-terminated substrings (e.g. ":3: source.x: unknown key"). */
__attribute__((sentinel))
static void bad(const char *text, int code, const char *name, ...)
{
	struct config *cfg = (struct config *)1;
	const char *want, *missing = NULL;
	va_list ap;
	int rc;

	error_clear();
	rc = load(&cfg, text);
	va_start(ap, name);
	while ((want = va_arg(ap, const char *)))
		if (!missing && !strstr(error_message(), want))
			missing = want;
	va_end(ap);
	ok(rc == code && !missing && !cfg, "%s -> %s", name, error_name(code));
	if (rc != code || missing)
		tap_diag("rc=%d (%s), message:\n%s\n# missing: %s", rc,
			 error_name(rc), error_message(),
			 missing ? missing : "-");
	config_free(rc ? NULL : cfg);
}

static const char full_fmt[] =
	"-- furrow agent config, every key\n"                 /* 1 */
	"return {\n"                                          /* 2 */
	"  host = {\n"                                        /* 3 */
	"    id = \"web-01.example_1\",\n"                    /* 4 */
	"    labels = { role = \"web\", [\"zone/a\"] = \"eu-1\", "
	"[\"end\"] = \"x.y\" },\n"                            /* 5 */
	"  },\n"
	"  source = {\n"
	"    url = \"https://git.example.com/fleet.git\",\n"
	"    ref = \"refs/heads/prod\",\n"
	"    ca_file = \"ca.pem\",\n"
	"    token_file = \"tokens/git.token\",\n"
	"    interval = 120,\n"
	"    jitter = 0.5,\n"
	"    timeout = 15.5,\n"
	"    max_age = 0,\n"
	"    insecure = false,\n"
	"  },\n"
	"  trust = { commit_signers = \"signers\", policy_signers = \"%s\" },\n"
	"  state_dir = \"state\",\n"
	"  containers = { socket = \"/run/user/1000/podman.sock\" },\n"
	"  report = {\n"
	"    url = \"https://collector.example/report\",\n"
	"    ca_file = \"./ca.pem\",\n"
	"    token_file = \"tokens/report.token\",\n"
	"    interval = 600,\n"
	"  },\n"
	"  metrics = { textfile = \"/var/lib/node_exporter/furrow.prom\" },\n"
	"  backup = {\n"
	"    key_file = \"backup.key\",\n"
	"    offsite = { url = \"https://backup.example/\", "
	"token_file = \"tokens/offsite.token\" },\n"
	"  },\n"
	"  log = { format = \"json\", level = \"debug\" },\n"
	"}\n";

static const char minimal[] =
	"return {\n"
	"  host = { id = \"h1\" },\n"
	"  source = { url = \"https://example.com/repo.git\" },\n"
	"  trust = { commit_signers = \"signers\" },\n"
	"}\n";

static void is_path(const char *got, const char *rel, const char *name)
{
	char want[700];

	path_in(want, sizeof(want), rel);
	is_str(got, want, name);
}

static void test_full(void)
{
	struct config *cfg = NULL;
	char policy[700], text[4096];
	int rc;

	path_in(policy, sizeof(policy), "policy");
	snprintf(text, sizeof(text), full_fmt, policy);
	write_file(cfg_name, text, strlen(text));

	rc = config_load(&cfg, cfg_name);
	ok(rc == 0 && cfg, "the full config loads");
	if (rc) {
		tap_diag("%s", error_message());
		return;
	}
	is_str(cfg->path, cfg_name, "path");
	is_str(cfg->host_id, "web-01.example_1", "host.id");
	is_int(cfg->label_count, 3, "three labels");
	if (cfg->label_count == 3) {
		is_str(cfg->labels[0].key, "end", "labels sorted: end");
		is_str(cfg->labels[0].value, "x.y", "labels: end = x.y");
		is_str(cfg->labels[1].key, "role", "labels sorted: role");
		is_str(cfg->labels[1].value, "web", "labels: role = web");
		is_str(cfg->labels[2].key, "zone/a", "labels sorted: zone/a");
		is_str(cfg->labels[2].value, "eu-1", "labels: zone/a = eu-1");
	}
	is_str(cfg->source.url, "https://git.example.com/fleet.git",
	       "source.url");
	is_str(cfg->source.ref, "refs/heads/prod", "source.ref");
	is_path(cfg->source.ca_file, "ca.pem",
		"source.ca_file resolved against the config's directory");
	is_path(cfg->source.token_file, "tokens/git.token",
		"source.token_file resolved");
	ok(cfg->source.interval == 120, "source.interval 120");
	ok(cfg->source.jitter == 0.5, "source.jitter 0.5");
	ok(cfg->source.timeout == 15.5, "source.timeout 15.5");
	ok(cfg->source.max_age == 0, "source.max_age 0 (off) accepted");
	is_int(cfg->source.insecure, 0, "source.insecure false");
	is_path(cfg->trust.commit_signers, "signers",
		"trust.commit_signers resolved");
	is_str(cfg->trust.policy_signers, policy,
	       "trust.policy_signers absolute path kept");
	is_path(cfg->state_dir, "state", "state_dir resolved");
	is_str(cfg->containers.socket, "/run/user/1000/podman.sock",
	       "containers.socket");
	is_str(cfg->report.url, "https://collector.example/report",
	       "report.url");
	is_path(cfg->report.ca_file, "./ca.pem", "report.ca_file resolved");
	is_path(cfg->report.token_file, "tokens/report.token",
		"report.token_file");
	ok(cfg->report.interval == 600, "report.interval 600");
	is_str(cfg->metrics.textfile, "/var/lib/node_exporter/furrow.prom",
	       "metrics.textfile");
	is_path(cfg->backup.key_file, "backup.key", "backup.key_file");
	is_str(cfg->backup.offsite_url, "https://backup.example/",
	       "backup.offsite.url");
	is_path(cfg->backup.offsite_token_file, "tokens/offsite.token",
		"backup.offsite.token_file");
	is_int(cfg->log.format, LOG_FORMAT_JSON, "log.format json");
	is_int(cfg->log.level, LOG_DEBUG, "log.level debug");
	config_free(cfg);
}

/* Loading by a relative name: files resolve against the config's
 * directory, not the working directory. */
static void test_relative_name(void)
{
	struct config *cfg = NULL;
	char cwd[4096], want[4200], old[4096];
	int rc;

	if (!getcwd(old, sizeof(old)) || chdir(tap_tmpdir()) ||
	    !getcwd(cwd, sizeof(cwd))) {
		ok(0, "chdir into the scratch dir");
		return;
	}
	rc = config_load(&cfg, "etc/agent.lua");
	ok(rc == 0, "config loads by a relative name from elsewhere");
	if (!rc) {
		snprintf(want, sizeof(want), "%s/etc/agent.lua", cwd);
		is_str(cfg->path, want, "path is made absolute");
		snprintf(want, sizeof(want), "%s/etc/ca.pem", cwd);
		is_str(cfg->source.ca_file, want,
		       "ca.pem resolved against etc/, not the cwd");
	} else {
		tap_diag("%s", error_message());
	}
	config_free(cfg);
	if (chdir(old))
		exit(99);
}

static void test_defaults(void)
{
	struct config *cfg = NULL;
	int rc = load(&cfg, minimal);

	ok(rc == 0, "the minimal config loads");
	if (rc) {
		tap_diag("%s", error_message());
		return;
	}
	is_str(cfg->source.ref, "refs/heads/main", "default ref");
	ok(cfg->source.interval == 60, "default interval 60");
	ok(cfg->source.jitter == 0.2, "default jitter 0.2");
	ok(cfg->source.timeout == 30, "default timeout 30");
	ok(cfg->source.max_age == 0, "default max_age 0");
	is_int(cfg->source.insecure, 0, "default insecure false");
	is_str(cfg->state_dir, "/var/lib/furrow", "default state_dir");
	is_str(cfg->containers.socket, "/run/podman/podman.sock",
	       "default containers.socket");
	ok(cfg->report.interval == 300, "default report.interval 300");
	is_int(cfg->log.format, LOG_FORMAT_LOGFMT, "default log.format");
	is_int(cfg->log.level, LOG_INFO, "default log.level");
	ok(!cfg->source.ca_file && !cfg->report.url && !cfg->backup.key_file &&
	   !cfg->trust.policy_signers && !cfg->metrics.textfile,
	   "optional keys without defaults stay NULL");
	is_int(cfg->label_count, 0, "no labels");
	config_free(cfg);
}

static void test_errors(void)
{
	struct config *cfg = NULL;
	int rc;

	bad("return {\n"
	    "  host = { id = \"h1\" },\n"
	    "  source = { url = \"https://e/x\", intervall = 5 },\n"
	    "  trust = { commit_signers = \"signers\" },\n"
	    "}\n", FURROW_EINVAL, "unknown key with a hint",
	    cfg_name, ":3: source.intervall: unknown key "
	    "(did you mean source.interval?)", NULL);
	bad("return {\n"
	    "  host = { id = \"h1\", colour = \"red\" },\n"
	    "  source = { url = \"https://e/x\" },\n"
	    "  trust = { commit_signers = \"signers\" },\n"
	    "}\n", FURROW_EINVAL, "unknown nested key",
	    ":2: host.colour: unknown key", NULL);
	bad("-- state_dir = \"in a comment\"\n"
	    "local s = \"sate_dir = 'in a string'\"\n"
	    "return {\n"
	    "  host = { id = \"h1\" },\n"
	    "  source = { url = \"https://e/x\" },\n"
	    "  trust = { commit_signers = \"signers\" },\n"
	    "  sate_dir = \"/x\",\n"
	    "}\n", FURROW_EINVAL, "top-level typo; comments/strings skipped",
	    ":7: sate_dir: unknown key (did you mean state_dir?)", NULL);
	bad("return { host = { id = \"h1\" }, source = { url = \"https://e/x\" },"
	    " trust = { commit_signers = \"signers\" }, [\"zzzzzzzzzz\"] = 1 }",
	    FURROW_EINVAL, "unknown key without a close match",
	    "zzzzzzzzzz: unknown key", NULL);

	bad("return {\n"
	    "  host = { id = \"h1\" },\n"
	    "  source = { url = \"https://e/x\",\n"
	    "    interval = \"60\" },\n"
	    "  trust = { commit_signers = \"signers\" },\n"
	    "}\n", FURROW_EINVAL, "string where a number belongs",
	    ":4: source.interval: expected a number, got string", NULL);
	bad("return {\n"
	    "  host = { id = { \"h1\" } },\n"
	    "  source = { url = \"https://e/x\" },\n"
	    "  trust = { commit_signers = \"signers\" },\n"
	    "}\n", FURROW_EINVAL, "table where a string belongs",
	    ":2: host.id: expected a string, got table", NULL);
	bad("return {\n"
	    "  host = { id = \"h1\" },\n"
	    "  source = { url = \"https://e/x\",\n"
	    "\n"
	    "    insecure = 1 },\n"
	    "  trust = { commit_signers = \"signers\" },\n"
	    "}\n", FURROW_EINVAL, "number where a boolean belongs",
	    ":5: source.insecure: expected a boolean, got integer", NULL);
	bad("return {\n"
	    "  host = \"h1\",\n"
	    "  source = { url = \"https://e/x\" },\n"
	    "  trust = { commit_signers = \"signers\" },\n"
	    "}\n", FURROW_EINVAL, "string where a table belongs",
	    ":2: host: expected a table, got string",
	    "host.id: missing (required)", NULL);
	bad("return { host = { id = \"h1\", labels = \"web\" },\n"
	    "  source = { url = \"https://e/x\" },\n"
	    "  trust = { commit_signers = \"signers\" } }\n",
	    FURROW_EINVAL, "labels not a table",
	    ":1: host.labels: expected a table of strings, got string", NULL);
	bad("return { \"h1\", host = { id = \"h1\" },\n"
	    "  source = { url = \"https://e/x\" },\n"
	    "  trust = { commit_signers = \"signers\" } }\n",
	    FURROW_EINVAL, "a list element at the top",
	    "unexpected list element [1]", NULL);

	bad("return { source = { url = \"https://e/x\" },\n"
	    "  trust = { commit_signers = \"signers\" } }\n",
	    FURROW_EINVAL, "missing host.id", "host.id: missing (required)",
	    NULL);
	bad("return { host = { id = \"h1\" },\n"
	    "  trust = { commit_signers = \"signers\" } }\n",
	    FURROW_EINVAL, "missing source.url",
	    "source.url: missing (required)", NULL);
	bad("return { host = { id = \"h1\" },\n"
	    "  source = { url = \"https://e/x\" } }\n",
	    FURROW_EINVAL, "missing trust.commit_signers",
	    "trust.commit_signers: missing (required)", NULL);

	bad("return { host = { id = \"web 01\" },\n"
	    "  source = { url = \"https://e/x\" },\n"
	    "  trust = { commit_signers = \"signers\" } }\n",
	    FURROW_EINVAL, "bad host id characters",
	    ":1: host.id: \"web 01\" is not a valid id", NULL);
	bad("return { host = { id = \"\" },\n"
	    "  source = { url = \"https://e/x\" },\n"
	    "  trust = { commit_signers = \"signers\" } }\n",
	    FURROW_EINVAL, "empty host id", "is not a valid id", NULL);
	bad("return { host = { id = string.rep(\"a\", 65) },\n"
	    "  source = { url = \"https://e/x\" },\n"
	    "  trust = { commit_signers = \"signers\" } }\n",
	    FURROW_EINVAL, "host id over LIMIT_HOST_ID_BYTES",
	    "is not a valid id (1 to 64", NULL);
	bad("return { host = { id = \"h\\0x\" },\n"
	    "  source = { url = \"https://e/x\" },\n"
	    "  trust = { commit_signers = \"signers\" } }\n",
	    FURROW_EINVAL, "NUL in a string", "host.id: contains a NUL byte",
	    NULL);
	bad("return { host = { id = \"h1\" },\n"
	    "  source = { url = \"https://e/x\",\n"
	    "    jitter = 1.5 },\n"
	    "  trust = { commit_signers = \"signers\" } }\n",
	    FURROW_EINVAL, "jitter 1.5",
	    ":3: source.jitter: 1.5 is not between 0 and 1", NULL);
	bad("return { host = { id = \"h1\" },\n"
	    "  source = { url = \"https://e/x\", interval = 0 },\n"
	    "  trust = { commit_signers = \"signers\" } }\n",
	    FURROW_EINVAL, "interval 0",
	    ":2: source.interval: 0 seconds is out of range", NULL);
	bad("return { host = { id = \"h1\" },\n"
	    "  source = { url = \"https://e/x\", interval = -5 },\n"
	    "  trust = { commit_signers = \"signers\" } }\n",
	    FURROW_EINVAL, "interval negative",
	    "source.interval: -5 seconds is out of range", NULL);
	bad("return { host = { id = \"h1\" },\n"
	    "  source = { url = \"https://e/x\", timeout = 0/0 },\n"
	    "  trust = { commit_signers = \"signers\" } }\n",
	    FURROW_EINVAL, "timeout NaN", "source.timeout:", NULL);
	bad("return { host = { id = \"h1\" },\n"
	    "  source = { url = \"https://e/x\", interval = 8 * 86400 },\n"
	    "  trust = { commit_signers = \"signers\" } }\n",
	    FURROW_EINVAL, "interval over a week",
	    "691200 seconds is out of range", NULL);
	bad("return { host = { id = \"h1\" },\n"
	    "  source = { url = \"https://e/x\" },\n"
	    "  trust = { commit_signers = \"signers\" },\n"
	    "  log = { format = \"xml\" } }\n",
	    FURROW_EINVAL, "bad log format",
	    ":4: log.format: \"xml\": use \"logfmt\" or \"json\"", NULL);
	bad("return { host = { id = \"h1\" },\n"
	    "  source = { url = \"https://e/x\" },\n"
	    "  trust = { commit_signers = \"signers\" },\n"
	    "  log = { level = \"verbose\" } }\n",
	    FURROW_EINVAL, "bad log level", ":4: log.level: \"verbose\"", NULL);
	bad("return { host = { id = \"h1\" },\n"
	    "  source = { url = \"http://e/x\" },\n"
	    "  trust = { commit_signers = \"signers\" } }\n",
	    FURROW_EINVAL, "http:// without insecure",
	    ":2: source.url: plain http:// needs source.insecure = true", NULL);
	rc = load(&cfg, "return { host = { id = \"h1\" },\n"
		  "  source = { url = \"http://e/x\", insecure = true },\n"
		  "  trust = { commit_signers = \"signers\" } }\n");
	ok(rc == 0 && cfg && cfg->source.insecure,
	   "http:// with insecure = true loads");
	config_free(cfg);
	bad("return { host = { id = \"h1\" },\n"
	    "  source = { url = \"https://e/x\", ref = \"main\" },\n"
	    "  trust = { commit_signers = \"signers\" } }\n",
	    FURROW_EINVAL, "ref not under refs/",
	    ":2: source.ref: \"main\" is not a full ref name", NULL);
	bad("return { host = { id = \"h1\" },\n"
	    "  source = { url = \"https://e/x\", ref = \"refs/heads/a..b\" },\n"
	    "  trust = { commit_signers = \"signers\" } }\n",
	    FURROW_EINVAL, "ref with ..", "is not a full ref name", NULL);
	bad("return { host = { id = \"h1\" },\n"
	    "  source = { url = \"ftp://e/x\" },\n"
	    "  trust = { commit_signers = \"signers\" } }\n",
	    FURROW_EINVAL, "bad source URL scheme",
	    ":2: source.url: \"ftp://e/x\": use an https://", NULL);
	bad("return { host = { id = \"h1\" },\n"
	    "  source = { url = \"https://e/x\" },\n"
	    "  trust = { commit_signers = \"signers\" },\n"
	    "  report = { url = \"ftp://c/\" } }\n",
	    FURROW_EINVAL, "bad report URL scheme",
	    ":4: report.url: \"ftp://c/\": use an https:// URL", NULL);
	bad("return { host = { id = \"h1\" },\n"
	    "  source = { url = \"https://e/x\", insecure = true },\n"
	    "  trust = { commit_signers = \"signers\" },\n"
	    "  report = { url = \"http://collector.example/r\" } }\n",
	    FURROW_EINVAL, "plain http report URL off this host",
	    "report.url: plain http:// only to a collector on this host", NULL);
	bad("return { host = { id = \"h1\" },\n"
	    "  source = { url = \"https://e/x\" },\n"
	    "  trust = { commit_signers = \"signers\" },\n"
	    "  backup = { key_file = \"backup.key\",\n"
	    "    offsite = { url = \"http://b/\" } } }\n",
	    FURROW_EINVAL, "http offsite backup URL",
	    ":5: backup.offsite.url: \"http://b/\": use an https:// URL", NULL);
	bad("return { host = { id = \"h1\" },\n"
	    "  source = { url = \"https://e/x\" },\n"
	    "  trust = { commit_signers = \"signers\" },\n"
	    "  backup = { offsite = { url = \"https://b/\" } } }\n",
	    FURROW_EINVAL, "offsite backup without a key",
	    "backup.offsite.url: needs backup.key_file", NULL);
	bad("return { host = { id = \"h1\" },\n"
	    "  source = { url = \"https://e/x\" },\n"
	    "  trust = { commit_signers = \"\" } }\n",
	    FURROW_EINVAL, "empty path",
	    ":3: trust.commit_signers: empty path", NULL);
	/* A dotted key is not a path into the schema. */
	bad("return { host = { id = \"h1\", labels = { a = \"b\" } },\n"
	    "  [\"host.labels\"] = { c = \"d\", e = \"f\", g = \"h\" },\n"
	    "  source = { url = \"https://e/x\" },\n"
	    "  trust = { commit_signers = \"signers\" } }\n",
	    FURROW_EINVAL, "a dotted key cannot set a field twice",
	    "host.labels: unknown key", NULL);
	bad("return { host = { id = \"h1\" }, [\"host\\0x\"] = { id = \"h2\" },\n"
	    "  source = { url = \"https://e/x\" },\n"
	    "  trust = { commit_signers = \"signers\" } }\n",
	    FURROW_EINVAL, "a key with a NUL cannot alias another",
	    "unknown key", NULL);
}

static void test_labels(void)
{
	struct config *cfg = NULL;
	int rc;

	bad("return { host = { id = \"h1\", labels = { [\"bad key\"] = \"x\" } },\n"
	    "  source = { url = \"https://e/x\" },\n"
	    "  trust = { commit_signers = \"signers\" } }\n",
	    FURROW_EINVAL, "label key with a space",
	    ":1: host.labels: label names are", NULL);
	bad("return { host = { id = \"h1\", labels = { \"x\" } },\n"
	    "  source = { url = \"https://e/x\" },\n"
	    "  trust = { commit_signers = \"signers\" } }\n",
	    FURROW_EINVAL, "label list instead of map", "label names are", NULL);
	bad("return { host = { id = \"h1\", labels = { [\"a\\0b\"] = \"x\" } },\n"
	    "  source = { url = \"https://e/x\" },\n"
	    "  trust = { commit_signers = \"signers\" } }\n",
	    FURROW_EINVAL, "label key with a NUL", "label names are", NULL);
	bad("return { host = { id = \"h1\", labels = { role = \"a b\" } },\n"
	    "  source = { url = \"https://e/x\" },\n"
	    "  trust = { commit_signers = \"signers\" } }\n",
	    FURROW_EINVAL, "label value with a space",
	    "host.labels: label role: values are", NULL);
	bad("return { host = { id = \"h1\", labels = { role = 5 } },\n"
	    "  source = { url = \"https://e/x\" },\n"
	    "  trust = { commit_signers = \"signers\" } }\n",
	    FURROW_EINVAL, "label value a number", "label role: values", NULL);
	bad("return { host = { id = \"h1\", labels = { role = \"a\\0b\" } },\n"
	    "  source = { url = \"https://e/x\" },\n"
	    "  trust = { commit_signers = \"signers\" } }\n",
	    FURROW_EINVAL, "label value with a NUL", "label role: values", NULL);
	bad("local l = {} for i = 1, 65 do l['k' .. i] = 'v' end\n"
	    "return { host = { id = \"h1\", labels = l },\n"
	    "  source = { url = \"https://e/x\" },\n"
	    "  trust = { commit_signers = \"signers\" } }\n",
	    FURROW_ELIMIT, "65 labels",
	    "host.labels: 65 labels, more than the limit of 64", NULL);
	bad("return { host = { id = \"h1\", labels = { k = string.rep('v', 129) } },\n"
	    "  source = { url = \"https://e/x\" },\n"
	    "  trust = { commit_signers = \"signers\" } }\n",
	    FURROW_EINVAL, "label value over LIMIT_LABEL_BYTES",
	    "label k: values", NULL);
	rc = load(&cfg, "local l = {} for i = 1, 64 do l['k' .. i] = 'v' .. i end\n"
		  "l.k1 = string.rep('v', 128)\n"
		  "return { host = { id = \"h1\", labels = l },\n"
		  "  source = { url = \"https://e/x\" },\n"
		  "  trust = { commit_signers = \"signers\" } }\n");
	ok(rc == 0 && cfg && cfg->label_count == 64 &&
	   strlen(cfg->labels[0].value) == 128,
	   "64 labels, one of 128 bytes, load");
	if (rc)
		tap_diag("%s", error_message());
	config_free(cfg);
}

static void test_files_and_lua(void)
{
	char big_path[700], missing[700];
	struct config *cfg = (struct config *)1;
	struct strbuf sb = STRBUF_INIT;
	int rc;

	path_in(missing, sizeof(missing), "nope");
	bad("return { host = { id = \"h1\" },\n"
	    "  source = { url = \"https://e/x\" },\n"
	    "  trust = { commit_signers = \"nope\" } }\n",
	    FURROW_ENOENT, "commit_signers file missing",
	    ":3: trust.commit_signers: cannot read ", missing,
	    "No such file or directory", NULL);
	bad("return { host = { id = \"h1\" },\n"
	    "  source = { url = \"https://e/x\", ca_file = \"nope\" },\n"
	    "  trust = { commit_signers = \"signers\" } }\n",
	    FURROW_ENOENT, "source.ca_file missing",
	    ":2: source.ca_file: cannot read", NULL);

	bad("return {\n  host = { id = \"h1\" \n", FURROW_ESYNTAX,
	    "Lua syntax error", cfg_name, "agent.lua:3:", NULL);
	bad("local x = nil\nreturn { host = x.id }\n", FURROW_EINVAL,
	    "Lua runtime error", "agent.lua:2: attempt to index a nil value",
	    NULL);
	bad("error('no config for you')\n", FURROW_EINVAL, "error() in the config",
	    "agent.lua:1: no config for you", NULL);
	bad("return \"host\"\n", FURROW_EINVAL, "returning a string",
	    "must return a table", "returned string", NULL);
	bad("local t = {}\n", FURROW_EINVAL, "returning nothing",
	    "returned nil", NULL);
	bad("while true do end\n", FURROW_ELIMIT, "infinite loop in the config",
	    "agent.lua: instruction limit of 10000000 exceeded", NULL);
	bad("local t = {} for i = 1, 1e8 do t[i] = i end\n", FURROW_ELIMIT,
	    "memory bomb in the config", "memory limit of 8388608", NULL);
	bad("return { host = { id = function() end } }\n", FURROW_EINVAL,
	    "a function in the config", "host.id: a function", NULL);
	bad("return { host = { id = io.open('/etc/passwd'):read('a') } }\n",
	    FURROW_EINVAL, "io in the config", "global 'io'", NULL);

	/* Several problems, all reported, each with its line. */
	bad("return {\n"
	    "  host = { id = \"bad id\" },\n"
	    "  source = { url = \"https://e/x\", jitter = 2 },\n"
	    "  trust = { commit_signers = \"signers\" },\n"
	    "  log = { format = \"yaml\" },\n"
	    "}\n", FURROW_EINVAL, "three errors in one file",
	    ":2: host.id:", ":3: source.jitter:", ":5: log.format:", NULL);
	bad("return { host = {}, source = {} }\n", FURROW_EINVAL,
	    "three required keys missing", "host.id: missing",
	    "source.url: missing", "trust.commit_signers: missing", NULL);

	error_clear();
	rc = config_load(&cfg, missing);
	ok(rc == FURROW_ENOENT && !cfg &&
	   strstr(error_message(), "no agent config") &&
	   strstr(error_message(), missing),
	   "config_load on a missing file -> not-found, naming it");
	tap_diag("%s", error_message());

	path_in(big_path, sizeof(big_path), "big.lua");
	strbuf_addstr(&sb, "--[[");
	while (sb.len < LIMIT_CONFIG_FILE_BYTES - 2 - strlen(minimal))
		strbuf_addch(&sb, 'x');
	strbuf_addstr(&sb, "]]");
	strbuf_addstr(&sb, minimal);
	ok(sb.len == LIMIT_CONFIG_FILE_BYTES, "(built a file of exactly the limit)");
	write_file(big_path, sb.buf, sb.len);
	rc = config_load(&cfg, big_path);
	ok(rc == 0 && cfg, "a config of exactly LIMIT_CONFIG_FILE_BYTES loads");
	if (rc)
		tap_diag("%s", error_message());
	config_free(cfg);
	strbuf_addch(&sb, '\n');
	write_file(big_path, sb.buf, sb.len);
	cfg = (struct config *)1;
	rc = config_load(&cfg, big_path);
	ok(rc == FURROW_ELIMIT && !cfg && strstr(error_message(), big_path) &&
	   strstr(error_message(), "262144"),
	   "one byte more -> limit, naming the file and the limit");
	tap_diag("%s", error_message());
	strbuf_release(&sb);
}

/* Everything after the first line ("-- normalised from PATH"). */
static const char *body(const char *s)
{
	const char *nl = strchr(s, '\n');

	return nl ? nl + 1 : s;
}

static void round_trip(const char *text, const char *name)
{
	struct strbuf a = STRBUF_INIT, b = STRBUF_INIT, j = STRBUF_INIT;
	struct config *cfg = NULL, *again = NULL;
	char norm[700];
	struct value *v = NULL;
	int rc;

	rc = load(&cfg, text);
	ok(rc == 0, "%s: loads", name);
	if (rc) {
		tap_diag("%s", error_message());
		return;
	}
	config_format_lua(&a, cfg);
	path_in(norm, sizeof(norm), "normalised.lua");
	write_file(norm, a.buf, a.len);
	rc = config_load(&again, norm);
	ok(rc == 0, "%s: the normalised Lua loads again", name);
	if (rc) {
		tap_diag("%s\n%s", error_message(), a.buf);
	} else {
		config_format_lua(&b, again);
		is_str(body(b.buf), body(a.buf),
		       "normalised text is a fixed point");
		ok(strstr(a.buf, norm) == NULL && strstr(b.buf, norm) != NULL,
		   "%s: the header names the file it came from", name);
	}
	config_format_json(&j, cfg);
	rc = json_parse(&v, "normalised.json", j.buf, j.len, 1 << 20);
	ok(rc == 0, "%s: config_format_json parses", name);
	if (rc) {
		tap_diag("%s\n%s", error_message(), j.buf);
	} else {
		const struct value *host = value_get(v, "host");
		const struct value *id = value_get(host, "id");

		ok(id && id->type == VALUE_STRING &&
		   !strcmp(id->u.string.ptr, cfg->host_id),
		   "%s: JSON host.id matches", name);
		ok(value_get(value_get(v, "source"), "interval") &&
		   value_get(value_get(v, "source"), "interval")->type ==
		   VALUE_INTEGER &&
		   value_get(value_get(v, "source"), "interval")->u.integer ==
		   (long long)cfg->source.interval,
		   "%s: JSON source.interval matches", name);
	}
	value_free(v);
	config_free(cfg);
	config_free(again);
	strbuf_release(&a);
	strbuf_release(&b);
	strbuf_release(&j);
}

static void test_round_trip(void)
{
	char policy[700], text[4096];

	path_in(policy, sizeof(policy), "policy");
	snprintf(text, sizeof(text), full_fmt, policy);
	round_trip(text, "full config");
	round_trip(minimal, "minimal config");
	/* Strings Lua and JSON escape differently; keywords as keys. */
	mkdir(etc, 0755);
	round_trip("return { host = { id = \"h1\", labels = { [\"end\"] = \"for\","
		   " [\"if\"] = \"nil\", [\"a.b\"] = \"c/d\" } },\n"
		   "  source = { url = \"https://e/x?a=\\\"q\\\"\\\\\", "
		   "jitter = 0.1, timeout = 1e-3 },\n"
		   "  state_dir = \"/tmp/odd\\1\\31\\127\\n\\t\\r'dir\",\n"
		   "  metrics = { textfile = \"\\226\\130\\172 euro\" },\n"
		   "  trust = { commit_signers = \"signers\" } }\n",
		   "awkward strings and keyword keys");
}

static void test_choose_path(void)
{
	unsetenv("FURROW_CONFIG");
	is_str(config_choose_path(NULL), CONFIG_DEFAULT_PATH,
	       "no -c, no FURROW_CONFIG: the default");
	is_str(config_choose_path("/x/a.lua"), "/x/a.lua", "explicit path");
	setenv("FURROW_CONFIG", "/env/agent.lua", 1);
	is_str(config_choose_path(NULL), "/env/agent.lua",
	       "FURROW_CONFIG when no -c");
	is_str(config_choose_path(""), "/env/agent.lua",
	       "an empty -c falls through to FURROW_CONFIG");
	is_str(config_choose_path("rel.lua"), "rel.lua",
	       "explicit beats FURROW_CONFIG");
	setenv("FURROW_CONFIG", "", 1);
	is_str(config_choose_path(NULL), CONFIG_DEFAULT_PATH,
	       "an empty FURROW_CONFIG is ignored");
	unsetenv("FURROW_CONFIG");
}

int main(void)
{
	alarm(120);
	setup_files();
	test_full();
	test_relative_name();
	test_defaults();
	test_errors();
	test_labels();
	test_files_and_lua();
	test_round_trip();
	test_choose_path();
	return tap_done();
}
