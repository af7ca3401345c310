/*
 * allowed_signers.h - the host's trust files, in OpenSSH's allowed_signers
 * format (ssh-keygen(1), "ALLOWED SIGNERS"):
 *
 *   principals [options] keytype base64-key [comment]
 *
 * principals is a comma-separated pattern list (`*` and `?` wildcards,
 * `!` negation, as OpenSSH's match_pattern_list); options are
 * namespaces="pattern-list", valid-after="TIME", valid-before="TIME"
 * (TIME is YYYYMMDD[HHMM[SS]][Z]).  Blank lines and `#` comments are
 * skipped.
 *
 * furrow differs from OpenSSH on purpose in three ways:
 *  - the whole file is checked when it is loaded: any malformed line,
 *    cert-authority entry or unsupported key type (sk-*, certificates,
 *    DSA) makes the load fail with FILE:LINE, where OpenSSH would only
 *    complain if it reached that line;
 *  - times are always UTC (OpenSSH reads them as local time unless they
 *    end in Z); a trailing Z is accepted and changes nothing;
 *  - RSA keys under LIMIT_RSA_MIN_BITS load, but core/verify.c refuses
 *    their signatures.
 */
#ifndef FURROW_ALLOWED_SIGNERS_H
#define FURROW_ALLOWED_SIGNERS_H

#include <stddef.h>
#include <time.h>

struct allowed_signer {
	char *principals;       /* as written */
	char *namespaces;       /* pattern list, NULL: any namespace */
	long long valid_after;  /* unix seconds, 0: no bound */
	long long valid_before; /* unix seconds, 0: no bound */
	const char *key_type;   /* static, e.g. "ssh-ed25519" */
	unsigned char *key;     /* public key blob */
	size_t key_len;
	unsigned line;          /* 1-based line in the file */
};

struct allowed_signers {
	char *name;             /* file name used in messages */
	struct allowed_signer *v;
	size_t n;
};

/*
 * Parse text (len bytes, need not be NUL-terminated); name is used in
 * messages ("name:LINE: ...").  *out belongs to the caller, freed with
 * allowed_signers_free().  Returns 0, or FURROW_ESYNTAX / FURROW_EINVAL /
 * FURROW_ELIMIT with a message naming name:LINE.
 */
int allowed_signers_parse(struct allowed_signers **out, const char *name,
			  const char *text, size_t len);

/* Read and parse the file at path (at most LIMIT_ALLOWED_SIGNERS_BYTES). */
int allowed_signers_load(struct allowed_signers **out, const char *path);

void allowed_signers_free(struct allowed_signers *as);

/*
 * Decide whether the public key blob key may sign in namespace ns at time
 * when, the way `git verify-commit` does with ssh-keygen:
 * `-Y find-principals` picks the first entry holding the key that is
 * valid at that time (namespaces are not looked at), and
 * `-Y verify -I P -n ns` then accepts if any entry holding the key whose
 * principal patterns match one of that entry's principals P allows ns and
 * is valid at that time.
 *
 * Returns 0 with *out set to the accepting entry (owned by as), or
 * FURROW_EVERIFY with a message: key not listed, not valid yet, expired,
 * not allowed for the namespace (naming the file and line).
 */
int allowed_signers_find(const struct allowed_signer **out,
			 const struct allowed_signers *as, const void *key,
			 size_t key_len, const char *ns, time_t when);

/*
 * OpenSSH's match_pattern_list(): 1 if s matches a pattern in the
 * comma-separated list, -1 if it matches a negated (!) one, else 0.
 */
int allowed_signers_match_list(const char *s, const char *list);

#endif
