/*
 * appspec.h - validated app specs: what `app "name" { ... }` in
 * furrow.lua asks for, checked against the schema documented in the
 * README ("App fields") and turned into C data the planner and the
 * drivers read.
 *
 * The input is the plain value tree core/desired.c hands back (no Lua
 * here).  Every problem is an error naming the file, the line of the app's
 * declaration and the field path, e.g.
 *
 *   furrow.lua:12: app web: health.interval: expected a number > 0, got string
 *
 * Unknown fields are errors (with "did you mean" when one is close), and
 * so are fields that belong to another kind of app.  Everything is
 * bounded by the LIMIT_APP_* caps in core/limits.h.
 */
#ifndef FURROW_APPSPEC_H
#define FURROW_APPSPEC_H

#include <stddef.h>

#include "value.h"

struct config_label;
struct desired_summary;

enum appspec_kind {
	APPSPEC_CONTAINER,   /* an OCI image run by Podman/Docker */
	APPSPEC_SERVICE,     /* a process furrow supervises, from repo files */
	APPSPEC_SYSTEMD,     /* a systemd unit file from the repo */
	APPSPEC_FILES,       /* a tree of repo files installed on the host */
};

enum appspec_strategy {
	APPSPEC_START_FIRST, /* new slot up and healthy, then old one stopped */
	APPSPEC_STOP_FIRST,  /* old slot stopped, then new one started */
};

enum appspec_network {
	APPSPEC_NET_PRIVATE, /* the engine's default bridge network */
	APPSPEC_NET_HOST,
	APPSPEC_NET_NONE,
};

enum appspec_health_kind {
	APPSPEC_HEALTH_NONE, /* no check: running counts as healthy */
	APPSPEC_HEALTH_HTTP,
	APPSPEC_HEALTH_TCP,
	APPSPEC_HEALTH_EXEC,
};

/* A NULL-terminated argument vector and its length. */
struct appspec_argv {
	char **argv;
	size_t argc;
};

/* A string pair: env entry, selector entry, secret. */
struct appspec_pair {
	char *key;
	char *value;
};

/* A published container port, "[IP:]HOST:CONTAINER[/tcp|/udp]". */
struct appspec_port {
	char *host_ip;           /* NULL: every address; else numeric, IPv6
	                            without brackets */
	unsigned host_port;      /* 1..65535 */
	unsigned container_port; /* 1..65535 */
	int udp;                 /* 0: tcp */
};

/* A named data directory, mounted into a container at path. */
struct appspec_volume {
	char *name;              /* [a-z0-9][a-z0-9_.-]*, at most 63 */
	char *path;              /* absolute; NULL for `data` entries */
	int read_only;
};

struct appspec_health {
	enum appspec_health_kind kind;
	char *http;              /* http:// or https:// URL */
	char *tcp;               /* "HOST:PORT" as written */
	struct appspec_argv exec;
	int expect_status;       /* http only; default 200 */
	char *body;              /* http only: expected in the body; NULL: any */
	double interval;         /* seconds between checks, default 5 */
	double timeout;          /* seconds per check, default 2 */
	int retries;             /* failures tolerated in a row, default 3 */
	double settle;           /* seconds healthy before an update is
	                            confirmed, default 10 */
};

struct appspec_limits {
	unsigned long long memory; /* bytes; 0: no limit */
	double cpu;                /* CPUs; 0: no limit */
	long pids;                 /* 0: no limit */
	long nofile;               /* 0: no limit */
};

struct appspec_backup {
	int enabled;               /* backup = { ... } was given */
	char **paths;              /* "NAME" or "NAME/sub/dir" of a data dir */
	size_t path_count;
	long long every;           /* seconds, default 86400 */
	int keep;                  /* snapshots kept, default 7 */
	int keep_daily;            /* also the newest of each of N days */
	int keep_weekly;           /* ... and of each of N weeks */
	long long rpo;             /* seconds; 0: no target */
	long long rto;             /* seconds; 0: no target */
	long long drill_every;     /* seconds; 0: no scheduled drills */
	struct appspec_argv pre;   /* run before a snapshot; argc 0: none */
	int stop;                  /* stop the app while copying */
	int snapshot_before_update;
};

struct appspec {
	char *name;
	int line;                  /* of the declaration in furrow.lua; 0 unknown */
	enum appspec_kind kind;

	/* container */
	char *image;               /* as written */
	char *image_digest;        /* "sha256:<64 hex>" when pinned, else NULL */
	struct appspec_port *ports;
	size_t port_count;
	int privileged;
	enum appspec_network network;
	int read_only;             /* read-only root filesystem */

	/* service, systemd, files */
	char *files;               /* repo directory */
	char *unit;                /* systemd: repo path of the .service file */
	char *target;              /* files: absolute directory on the host */

	/* container, service */
	struct appspec_argv exec;  /* service: required; container: command */
	char *user;                /* name or decimal uid; NULL: default */
	struct appspec_pair *env;  /* in key order */
	size_t env_count;
	struct appspec_limits limits;

	/* data: volumes (container) or data (service, systemd) */
	struct appspec_volume *volumes;
	size_t volume_count;

	/* every kind */
	struct appspec_health health;
	enum appspec_strategy strategy;
	char **depends_on;         /* app names, as written */
	size_t depends_count;
	struct appspec_pair *on;   /* host-label selector, in key order */
	size_t on_count;
	struct appspec_backup backup;
	struct appspec_pair *secrets; /* name -> repo path of a .age file */
	size_t secret_count;
	int purge;
};

/* Apps of one furrow.lua, in dependency order. */
struct appspec_list {
	struct appspec **apps;
	size_t count;
};

/*
 * Validate spec, the table furrow.lua gave `app "name"` declared at line
 * (0 if unknown) of file.  On success *out belongs to the caller
 * (appspec_free()).  Returns 0, or FURROW_EINVAL / FURROW_ELIMIT with a
 * message of one line per problem (at most LIMIT_APP_ERRORS shown), each
 * "FILE:LINE: app NAME: FIELD: what".  depends_on names are checked for
 * form only; appspec_parse_all() checks that they exist.
 */
int appspec_parse(struct appspec **out, const char *file, int line,
		  const char *name, const struct value *spec);

/*
 * Validate every app of sum (core/desired.h) and the rules between
 * them: every depends_on names a declared app, and dependencies have no
 * cycle (the message shows it: "a -> b -> a").  On success *out belongs
 * to the caller (appspec_list_free()) and lists the apps so that each
 * comes after the apps it depends on, otherwise in declaration order.
 * Returns as appspec_parse(); errors of all apps are reported together.
 * Messages name the file each app was declared in (sum->app_files, the
 * included file for an app declared there), else file.
 */
int appspec_parse_all(struct appspec_list **out, const char *file,
		      const struct desired_summary *sum);

/*
 * True if app a is meant for a host with these labels: every key of its
 * `on` selector is a label of the host with an equal value.  An app
 * without a selector is meant for every host.
 */
int appspec_selected(const struct appspec *a,
		     const struct config_label *labels, size_t n);

/*
 * Parse a duration such as "90s", "15m", "6h", "1d" or "1h30m" (units
 * s, m, h, d, each at most once, largest first) into seconds.
 * Returns 0, or FURROW_EINVAL without a message (the caller knows the
 * field).  At most 366 days.
 */
int appspec_parse_duration(const char *s, long long *seconds);

/* "container", "service", "systemd", "files". */
const char *appspec_kind_name(enum appspec_kind kind);

/* Free an app or a list; accept NULL. */
void appspec_free(struct appspec *a);
void appspec_list_free(struct appspec_list *list);

#endif
