/*
 * gitsync_int.h - private to the gitsync module (core/gitsync.c,
 * core/gitsync_net.c, core/gitsync_read.c), the only files that include
 * <git2.h>.  Nothing else includes this header.
 */
#ifndef FURROW_GITSYNC_INT_H
#define FURROW_GITSYNC_INT_H

#include <stdint.h>

#include <git2.h>
#include <git2/sys/stream.h>

#include "gitsync.h"

struct strbuf;

struct gitsync {
	git_repository *repo;
	char *dir;
	int recovered;
};

struct fetch_ctx {
	int64_t deadline_ms;
	unsigned connect_s, idle_s, deadline_s;
	uint64_t max_bytes;
	unsigned max_objects;
	int err;        /* a FURROW_E* a callback or the stream decided */
	char msg[512];  /* its message */
	char *token;
	const char *user;
	const char *url;
	int auth_tries;
	int tty, printed;
	int64_t last_print;
	git_indexer_progress stats;
};

/* The fetch in progress on this thread, for the socket stream. */
extern __thread struct fetch_ctx *gs_active_ctx;

enum gs_scheme { SCHEME_HTTPS, SCHEME_HTTP, SCHEME_GIT, SCHEME_FILE, SCHEME_PATH };

/* gitsync.c */
int64_t gs_now_ms(void);
/* libgit2's last error message (never NULL) and class. */
const char *gs_lg2_message(void);
int gs_lg2_class(void);
/* Leave the "an object read failed" marker in the repo dir. */
void gs_suspect_mark(struct gitsync *gs);
/* Point refs/furrow/fetched at oid once it is complete; fills out->tip
 * and out->changed.  *suspect: the failure may be local corruption. */
int gs_set_fetched(struct gitsync *gs, const git_oid *oid,
		   struct gitsync_result *out, int *suspect);

/* gitsync_net.c */
/* libgit2 stream constructor: plain TCP with furrow's timeouts. */
int gs_stream_new(git_stream **out, const char *host, const char *port);
int gs_url_check(const struct gitsync_remote *r, enum gs_scheme *out);
int gs_ref_check(const char *ref);
/* Read a token file; *out is the caller's to wipe and free. */
int gs_token_read(const char *path, char **out);
/* transfer_progress callback: caps, deadline, progress; payload is a
 * struct fetch_ctx. */
int gs_on_transfer(const git_indexer_progress *stats, void *payload);
/* One fetch attempt (see gitsync_fetch()). */
int gs_fetch_once(struct gitsync *gs, const struct gitsync_remote *r,
		  struct fetch_ctx *c, struct gitsync_result *out, int *suspect);

/* gitsync_read.c */
int gs_oid_parse(git_oid *out, const char *hex, const char *what);
void gs_oid_hex(char out[GITSYNC_OID_HEX + 1], const git_oid *oid);
/* 0 if commit oid and everything under its root tree are present; on
 * failure *incomplete says whether objects are missing or damaged. */
int gs_commit_complete(struct gitsync *gs, const git_oid *oid, int *incomplete);
/* Peel a commit or annotated tag to a commit. */
int gs_peel_commit(struct gitsync *gs, const git_oid *oid, git_oid *out);

#endif
