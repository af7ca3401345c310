/*
 * cmd.h - what every cmd_<name>.c shares: exit codes, the context a
 * command runs with, and small helpers for argument parsing and output.
 * Commands parse arguments, call core/, print.  No business logic here.
 */
#ifndef FURROW_CMD_H
#define FURROW_CMD_H

#include "strbuf.h"

/* Exit codes: documented in README.md ("Exit codes"); keep them stable. */
enum exit_code {
	EXIT_OK = 0,
	EXIT_FAILURE_ = 1,      /* an error; the message says which */
	EXIT_USAGE = 2,         /* bad command line */
	EXIT_VERIFY = 3,        /* a signature or trust check failed */
	EXIT_POLICY = 4,        /* policy denied or deferred a change */
	EXIT_ROLLED_BACK = 5,   /* an update failed and was rolled back */
};

struct cmd_context {
	const char *config_path; /* -c FILE, or NULL */
	const char *argv0;
	int log_from_cli;        /* --log-format/--log-level given: keep them */
};

struct config;
struct store;

struct command {
	const char *name;
	int (*fn)(struct cmd_context *ctx, int argc, char **argv);
	const char *summary;
};

extern const struct command commands[];

int cmd_version(struct cmd_context *ctx, int argc, char **argv);
int cmd_check(struct cmd_context *ctx, int argc, char **argv);
int cmd_sync(struct cmd_context *ctx, int argc, char **argv);
int cmd_verify(struct cmd_context *ctx, int argc, char **argv);
int cmd_status(struct cmd_context *ctx, int argc, char **argv);
int cmd_plan(struct cmd_context *ctx, int argc, char **argv);
int cmd_apply(struct cmd_context *ctx, int argc, char **argv);
int cmd_run(struct cmd_context *ctx, int argc, char **argv);
int cmd_history(struct cmd_context *ctx, int argc, char **argv);
int cmd_rollback(struct cmd_context *ctx, int argc, char **argv);
int cmd_backup(struct cmd_context *ctx, int argc, char **argv);

/* The clock: FURROW_NOW=<epoch seconds> if set (tests, reproducing a
 * plan), else time().  Records an error for a malformed value. */
int cmd_now(long long *now);

/* Append epoch seconds t as RFC 3339 UTC ("2026-11-27T05:00:00Z"). */
void cmd_add_time(struct strbuf *sb, long long t);

/* Load the agent config and apply its log settings (unless given on the
 * command line).  Prints the error; returns 0 or EXIT_FAILURE_. */
int cmd_load_config(struct cmd_context *ctx, struct config **out);

/* Print a sync or verify result (cmd_sync.c), human or JSON. */
struct sync_result;
void cmd_print_sync(const struct sync_result *r, int json, const char *verdict);

/* Map a core error code to the exit code for it (EVERIFY -> 3). */
int cmd_exit_for(int code);

/* Append s as a JSON string member "key":"s" (s NULL: null), with a
 * leading comma unless first. */
void cmd_json_str(struct strbuf *sb, const char *key, const char *s, int first);

/* Print "furrow: <message>" for the recorded error (error.h) to stderr. */
void cmd_error(const char *context);

/* "furrow CMD: unknown option X" + hint, returns EXIT_USAGE. */
int cmd_usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* True if argv[i] is -h or --help. */
int cmd_is_help(const char *arg);

#endif
