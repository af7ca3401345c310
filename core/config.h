/*
 * config.h - the agent config: a Lua table file describing this host.
 *
 * The file is evaluated by core/sandbox (no I/O, capped memory,
 * instructions and time) and must return a table.  Every key is checked
 * against the schema in config.c: unknown keys, wrong types and invalid
 * values are errors naming the file, the line (best effort: where the
 * key is written) and the key path.  Relative paths are resolved against
 * the directory of the config file, so a config and its trust files can
 * live together anywhere, e.g. in a temp dir for an unprivileged user.
 */
#ifndef FURROW_CONFIG_H
#define FURROW_CONFIG_H

#include <stddef.h>

#include "log.h"
#include "strbuf.h"

#define CONFIG_DEFAULT_PATH "/etc/furrow/agent.lua"

struct config_label {
	char *key;
	char *value;
};

struct config {
	char *path; /* absolute path of the file this came from */

	char *host_id;
	struct config_label *labels; /* sorted by key */
	size_t label_count;

	struct {
		char *url;
		char *ref;
		char *ca_file;
		char *token_file;
		double interval;    /* seconds between passes */
		double jitter;      /* fraction of interval, 0..1 */
		double timeout;     /* connect/low-speed timeout, seconds */
		double max_age;     /* warn when newest commit is older; 0 off */
		int insecure;       /* allow plain http:// */
	} source;

	struct {
		char *commit_signers;
		char *policy_signers;
	} trust;

	char *state_dir;

	struct {
		char *socket;
		char *registry_auth_file; /* Docker AuthConfig JSON for pulls */
	} containers;

	struct {
		char *url;
		char *ca_file;
		char *token_file;
		double interval;    /* heartbeat seconds */
		double timeout;     /* one delivery attempt, seconds */
		double outbox_max_items; /* reports and events kept unsent */
		double outbox_max_bytes;
	} report;

	struct {
		char *textfile;
	} metrics;

	struct {
		char *key_file;
		char *offsite_url;
		char *offsite_token_file;
		char *offsite_ca_file;
	} backup;

	struct {
		double parallel;     /* apps updated at once, 1..64 */
		double retry_failed; /* seconds before a failed spec is tried
		                        again on the same commit; 0: never */
		double stop_timeout; /* SIGTERM to SIGKILL, seconds */
		double log_max_bytes; /* per service log file */
		double log_keep;     /* rotated service log files kept */
	} apply;

	struct {
		int format; /* enum log_format */
		int level;  /* enum log_level */
	} log;
};

/*
 * Which file to read: explicit (from -c) if non-NULL, else $FURROW_CONFIG,
 * else CONFIG_DEFAULT_PATH.  Never NULL.
 */
const char *config_choose_path(const char *explicit_path);

/*
 * Read, evaluate and validate the config at path.  On success *out is
 * owned by the caller (config_free()).  On failure returns a negative
 * FURROW_E* code; the recorded message lists every problem found, one
 * per line, each as "FILE:LINE: KEY: what is wrong".
 */
int config_load(struct config **out, const char *path);

/* Same, from text already in memory (used by tests and the fuzzer);
 * name is used in messages and to resolve relative paths. */
int config_load_text(struct config **out, const char *name, const char *text,
		     size_t len);

void config_free(struct config *cfg);

/* The normalised config: every key, defaults filled in, as Lua or JSON. */
void config_format_lua(struct strbuf *sb, const struct config *cfg);
void config_format_json(struct strbuf *sb, const struct config *cfg);

#endif
