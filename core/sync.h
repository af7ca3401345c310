/*
 * sync.h - fetch and verify: the first two steps of the loop.
 *
 * A sync fetches the configured ref (or imports a bundle) in a confined
 * child process, then, in this process, verifies what came:
 *   1. the commit's SSH signature against trust.commit_signers
 *      (namespace "git");
 *   2. that it descends from the commit accepted last (no silent
 *      rollback, no divergent history);
 *   3. that its furrow.lua `serial` is not below the highest serial ever
 *      accepted (kept in LMDB and in <state_dir>/serial, so it survives
 *      a wiped store);
 *   4. that every policy file furrow.lua loads from the repository has a
 *      valid detached signature <file>.sig by a key in
 *      trust.policy_signers (namespace "furrow-policy").
 * Only then is the commit recorded as accepted.  Unverified input never
 * reaches the evaluator: furrow.lua is evaluated (for its serial and
 * policy list) only after step 1 passed.  libgit2 runs only in children.
 */
#ifndef FURROW_SYNC_H
#define FURROW_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "store.h"

#define SYNC_OID_HEX 40

struct desired_summary;

struct sync_options {
	const char *bundle;     /* import this git bundle instead of fetching */
	int allow_downgrade;    /* accept a non-descendant or lower serial */
	int progress;           /* show fetch progress on a terminal */
	unsigned wait_seconds;  /* retry failed fetches with backoff this long */
};

struct sync_signer {
	char *principal;   /* as written in allowed_signers */
	char *key_type;
	char *fingerprint; /* SHA256:... */
};

struct sync_policy {
	char *path;        /* in the repository; "std:..." for built-ins */
	int builtin;       /* embedded standard policy: no signature needed */
	struct sync_signer signer;
	char *source;      /* repository policy: the verified bytes (NUL-
	                      terminated); NULL for built-ins */
	size_t source_len;
};

struct sync_result {
	char commit[SYNC_OID_HEX + 1];
	char previous[SYNC_OID_HEX + 1]; /* accepted before; "" if none */
	int changed;                     /* commit differs from previous */
	int64_t commit_time;
	char *summary;
	int has_serial;
	long long serial;
	struct sync_signer signer;
	struct sync_policy *policies;
	size_t policy_count;
	int recovered;                   /* local repo was corrupt, re-fetched */
	int downgrade;                   /* accepted through allow_downgrade */
	unsigned attempts;               /* fetch attempts made */
};

/*
 * Fetch, verify and record.  st must be open read-write.  Returns 0 (out
 * filled; release with sync_result_release()), FURROW_EVERIFY for any
 * trust failure (the message says which; nothing is recorded as
 * accepted), or another error for fetch and I/O failures (recorded as the
 * last fetch error; the accepted commit stays).
 */
int sync_run(struct sync_result *out, const struct config *cfg,
	     struct store *st, const struct sync_options *opts);

/*
 * The auditor's view of a commit already fetched: rev is a full commit
 * id, or NULL for the last fetched tip.  Checks the commit signature and
 * each policy signature exactly as sync_run() does, without fetching or
 * recording anything; ancestry and serial are not checked.  Returns 0 or
 * FURROW_EVERIFY with out filled as far as it got.
 */
int sync_inspect(struct sync_result *out, const struct config *cfg,
		 const char *rev);

void sync_result_release(struct sync_result *r);

/* A fetched commit re-verified for the planner (see sync_read_verified). */
struct sync_verified {
	struct sync_result res;        /* commit, signer, policies + sources */
	struct desired_summary *sum;   /* furrow.lua, evaluated */
	int freeze_file;               /* FREEZE has a valid FREEZE.sig by a
	                                  policy signer */
};

/*
 * Read rev (a full commit id; NULL: the last fetched tip) and verify it
 * exactly as sync_inspect() does (commit signature, furrow.lua, each
 * policy file's signature), keeping what the planner needs: the
 * evaluated furrow.lua and each repository policy's verified source.
 * Also reports whether a FREEZE file at the root is signed by a key in
 * trust.policy_signers (namespace furrow-policy); an unsigned or badly
 * signed FREEZE counts as absent.  Returns 0, FURROW_ENOENT (nothing
 * fetched), FURROW_EVERIFY, or another error; release out with
 * sync_verified_release() in every case.
 */
int sync_read_verified(struct sync_verified *out, const struct config *cfg,
		       const char *rev);
void sync_verified_release(struct sync_verified *v);

/* What the store and <state_dir>/serial say about syncing. */
struct sync_state {
	char accepted[SYNC_OID_HEX + 1];  /* "" if none yet */
	char fetched[SYNC_OID_HEX + 1];   /* last fetched tip; "" if none */
	int64_t accepted_commit_time;     /* committer time of accepted */
	int64_t accepted_at;              /* when it was accepted */
	int has_serial;
	long long accepted_serial;
	long long serial_max;             /* highest serial ever accepted */
	char *signer;
	char *fingerprint;
	int64_t fetch_ok_at;              /* last successful fetch; 0 never */
	int64_t fetch_attempt_at;         /* last fetch attempt; 0 never */
	char *fetch_error;                /* last attempt's error; NULL if ok */
	char *verify_error;               /* last verification failure */
};

int sync_state_load(struct sync_state *out, struct store *st,
		    const char *state_dir);
void sync_state_release(struct sync_state *s);

#endif
