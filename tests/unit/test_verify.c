/*
 * test_verify.c - SSH signature verification (core/verify.c and its
 * parsers core/sshwire.c, sshsig.c, allowed_signers.c, commitsig.c).
 *
 * The parsers' hostile-input tests are in test_sshparse.c.
 *
 * Interoperability is the proof: real keys, signatures and signed commits
 * are made with stock ssh-keygen and git, and for every case furrow's
 * verdict is compared with `ssh-keygen -Y verify` and `git verify-commit`.
 * What furrow accepts they accept; what they reject furrow rejects; the
 * few places where furrow is stricter on purpose are checked as such.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "allowed_signers.h"
#include "bug.h"
#include "commitsig.h"
#include "error.h"
#include "limits.h"
#include "sshsig.h"
#include "sshwire.h"
#include "strbuf.h"
#include "tap.h"
#include "verify.h"
#include "banned.h"

static const char *T; /* tap_tmpdir() */

static const char *path(const char *leaf)
{
	static char bufs[8][512];
	static int next;
	char *b = bufs[next++ % 8];

	snprintf(b, sizeof(bufs[0]), "%s/%s", T, leaf);
	return b;
}

/* Run a shell command in T with TZ=UTC; returns its exit status. */
__attribute__((format(printf, 1, 2)))
static int sh(const char *fmt, ...)
{
	struct strbuf cmd = STRBUF_INIT;
	va_list ap;
	int st;

	strbuf_addf(&cmd, "cd '%s' && ", T);
	va_start(ap, fmt);
	strbuf_vaddf(&cmd, fmt, ap);
	va_end(ap);
	st = system(cmd.buf);
	strbuf_release(&cmd);
	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static void slurp(struct strbuf *sb, const char *leaf)
{
	strbuf_reset(sb);
	if (strbuf_read_file(sb, path(leaf), 16u * 1024 * 1024) < 0) {
		tap_diag("cannot read %s: %s", leaf, error_message());
		exit(99);
	}
}

static void spit(const char *leaf, const void *data, size_t len)
{
	FILE *f = fopen(path(leaf), "wb");

	if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		tap_diag("cannot write %s", leaf);
		exit(99);
	}
}

static int contains(const char *hay, const char *needle)
{
	return strstr(hay, needle) != NULL;
}

/* --- the key types under test ------------------------------------------- */

static const struct keydef {
	const char *name;  /* file k_NAME in T */
	const char *args;  /* ssh-keygen -t ... */
	const char *type;  /* key type furrow reports */
	int furrow_ok;     /* furrow accepts its signatures */
} keys[] = {
	{ "ed25519", "-t ed25519", "ssh-ed25519", 1 },
	{ "p256", "-t ecdsa -b 256", "ecdsa-sha2-nistp256", 1 },
	{ "p384", "-t ecdsa -b 384", "ecdsa-sha2-nistp384", 1 },
	{ "p521", "-t ecdsa -b 521", "ecdsa-sha2-nistp521", 1 },
	{ "rsa3072", "-t rsa -b 3072", "ssh-rsa", 1 },
	{ "rsa1024", "-t rsa -b 1024", "ssh-rsa", 0 },
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

/* --- furrow vs ssh-keygen on a detached signature ----------------------- */

static int furrow_file(struct verify_result *res, const char *as_leaf,
		       const char *ns, const char *msg_leaf,
		       const char *sig_leaf)
{
	struct strbuf msg = STRBUF_INIT, sig = STRBUF_INIT;
	struct allowed_signers *as = NULL;
	int rc;

	memset(res, 0, sizeof(*res));
	if ((rc = allowed_signers_load(&as, path(as_leaf))) < 0)
		goto out;
	slurp(&msg, msg_leaf);
	slurp(&sig, sig_leaf);
	rc = verify_sshsig(res, as, ns, msg.buf, msg.len, sig.buf, sig.len,
			   time(NULL));
out:
	allowed_signers_free(as);
	strbuf_release(&msg);
	strbuf_release(&sig);
	return rc;
}

static int ssh_verify(const char *as_leaf, const char *principal,
		      const char *ns, const char *msg_leaf,
		      const char *sig_leaf)
{
	return sh("ssh-keygen -Y verify -f %s -I '%s' -n %s -s %s < %s "
		  ">/dev/null 2>&1", as_leaf, principal, ns, sig_leaf,
		  msg_leaf) == 0;
}

/*
 * One case: furrow must give `want` (1 accept, 0 reject), with a message
 * containing `why` when it rejects; ssh-keygen must agree, unless
 * `stricter` (furrow rejects on purpose what ssh-keygen accepts).
 */
static void check_sig(const char *name, const char *as_leaf,
		      const char *principal, const char *ns,
		      const char *msg_leaf, const char *sig_leaf, int want,
		      const char *why, int stricter)
{
	struct verify_result res;
	int rc = furrow_file(&res, as_leaf, ns, msg_leaf, sig_leaf);
	int ssh = ssh_verify(as_leaf, principal, ns, msg_leaf, sig_leaf);

	ok((rc == 0) == want, "%s: furrow %s", name,
	   want ? "accepts" : "rejects");
	if (rc < 0)
		tap_diag("furrow: %s", error_message());
	if (!want && why) {
		ok(contains(error_message(), why), "%s: message says \"%s\"",
		   name, why);
		if (!contains(error_message(), why))
			tap_diag("got: %s", error_message());
	}
	if (rc < 0)
		is_int(rc, error_code(), "code recorded with message");
	if (stricter)
		ok(ssh, "%s: ssh-keygen accepts (furrow is stricter)", name);
	else
		ok(ssh == want, "%s: ssh-keygen %s too", name,
		   want ? "accepts" : "rejects");
	verify_result_release(&res);
}

/* --- furrow vs git verify-commit ----------------------------------------- */

static void read_sha(char *sha, size_t size, const char *leaf)
{
	struct strbuf sb = STRBUF_INIT;

	slurp(&sb, leaf);
	while (sb.len && (sb.buf[sb.len - 1] == '\n'))
		strbuf_setlen(&sb, sb.len - 1);
	snprintf(sha, size, "%s", sb.buf);
	strbuf_release(&sb);
}

static void check_commit(const char *name, const char *as_leaf,
			 const char *tag, int want, const char *why,
			 int stricter)
{
	struct strbuf raw = STRBUF_INIT, leaf = STRBUF_INIT;
	struct allowed_signers *as = NULL;
	struct verify_result res;
	char sha[128];
	int rc, git;

	memset(&res, 0, sizeof(res));
	strbuf_addf(&leaf, "c_%s", tag);
	slurp(&raw, leaf.buf);
	strbuf_reset(&leaf);
	strbuf_addf(&leaf, "sha_%s", tag);
	read_sha(sha, sizeof(sha), leaf.buf);
	rc = allowed_signers_load(&as, path(as_leaf));
	if (rc == 0)
		rc = verify_commit(&res, as, raw.buf, raw.len, time(NULL));
	ok((rc == 0) == want, "%s: furrow %s the commit", name,
	   want ? "accepts" : "rejects");
	if (rc < 0)
		tap_diag("furrow: %s", error_message());
	if (!want && why) {
		ok(contains(error_message(), why), "%s: message says \"%s\"",
		   name, why);
		if (!contains(error_message(), why))
			tap_diag("got: %s", error_message());
	}
	git = sh("git -C repo -c gpg.ssh.allowedSignersFile='%s' "
		 "verify-commit %s >/dev/null 2>&1", path(as_leaf), sha) == 0;
	if (stricter)
		ok(git, "%s: git verify-commit accepts (furrow is stricter)",
		   name);
	else
		ok(git == want, "%s: git verify-commit %s too", name,
		   want ? "accepts" : "rejects");
	verify_result_release(&res);
	allowed_signers_free(as);
	strbuf_release(&raw);
	strbuf_release(&leaf);
}

/* --- building fixtures ----------------------------------------------------- */

/* "type base64" of k_NAME.pub (or of any .pub file given as leaf). */
static void pubkey(struct strbuf *out, const char *leaf)
{
	struct strbuf sb = STRBUF_INIT;
	char *sp;

	slurp(&sb, leaf);
	sp = strchr(sb.buf, ' ');
	sp = sp ? strchr(sp + 1, ' ') : NULL;
	if (!sp)
		sp = strchr(sb.buf, '\n');
	if (sp)
		strbuf_setlen(&sb, (size_t)(sp - sb.buf));
	strbuf_addstr(out, sb.buf);
	strbuf_release(&sb);
}

/* Append an allowed_signers line: fmt with its "%s" replaced by the
 * public key of k_KEY ("type base64"). */
static void as_line(struct strbuf *sb, const char *fmt, const char *key)
{
	struct strbuf pk = STRBUF_INIT, pubname = STRBUF_INIT;
	const char *at = strstr(fmt, "%s");

	strbuf_addf(&pubname, "k_%s.pub", key);
	pubkey(&pk, pubname.buf);

	if (!at)
		exit(99);
	strbuf_add(sb, fmt, (size_t)(at - fmt));
	strbuf_addstr(sb, pk.buf);
	strbuf_addstr(sb, at + 2);
	strbuf_addch(sb, '\n');
	strbuf_release(&pk);
	strbuf_release(&pubname);
}

static void put_string(struct strbuf *sb, const void *p, size_t n)
{
	unsigned char len[4] = { (unsigned char)(n >> 24),
				 (unsigned char)(n >> 16),
				 (unsigned char)(n >> 8), (unsigned char)n };

	strbuf_add(sb, len, 4);
	strbuf_add(sb, p, n);
}

static void put_u32(struct strbuf *sb, uint32_t v)
{
	unsigned char b[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16),
			       (unsigned char)(v >> 8), (unsigned char)v };

	strbuf_add(sb, b, 4);
}

/* A signature object with the given fields, armored as ssh-keygen does. */
static void build_sig(struct strbuf *armored, const void *pub, size_t publen,
		      const char *ns, const char *hash, const void *sig,
		      size_t siglen)
{
	struct strbuf blob = STRBUF_INIT, b64 = STRBUF_INIT;
	size_t i;

	strbuf_add(&blob, "SSHSIG", 6);
	put_u32(&blob, 1);
	put_string(&blob, pub, publen);
	put_string(&blob, ns, strlen(ns));
	put_string(&blob, "", 0);
	put_string(&blob, hash, strlen(hash));
	put_string(&blob, sig, siglen);
	sshwire_base64_encode(&b64, blob.buf, blob.len, 1);
	strbuf_addstr(armored, SSHSIG_ARMOR_BEGIN "\n");
	for (i = 0; i < b64.len; i += 70) {
		strbuf_add(armored, b64.buf + i,
			   b64.len - i < 70 ? b64.len - i : 70);
		strbuf_addch(armored, '\n');
	}
	strbuf_addstr(armored, SSHSIG_ARMOR_END "\n");
	strbuf_release(&blob);
	strbuf_release(&b64);
}

static const char *keypath(const char *name)
{
	static char buf[600];

	snprintf(buf, sizeof(buf), "%s/k_%s", T, name);
	return buf;
}

static void setup(void)
{
	struct strbuf sb = STRBUF_INIT;
	size_t i;

	if (sh("echo 'desired state, serial 7' > msg.txt && "
	       "printf 'desired state, serial 8\\n' > msg_t.txt") != 0)
		exit(99);
	for (i = 0; i < NKEYS; i++) {
		const char *k = keys[i].name;

		if (sh("ssh-keygen -q %s -N '' -C %s@test -f k_%s && "
		       "ssh-keygen -q -Y sign -f k_%s -n git < msg.txt "
		       "> sig_git_%s 2>/dev/null && "
		       "ssh-keygen -q -Y sign -f k_%s -n furrow-policy "
		       "< msg.txt > sig_pol_%s 2>/dev/null",
		       keys[i].args, k, k, k, k, k, k) != 0) {
			tap_diag("ssh-keygen failed for %s", k);
			exit(99);
		}
	}
	for (i = 0; i < NKEYS; i++) {
		struct strbuf fmt = STRBUF_INIT;

		strbuf_addf(&fmt, "%s@test %%s", keys[i].name);
		as_line(&sb, fmt.buf, keys[i].name);
		strbuf_release(&fmt);
	}
	spit("as_all", sb.buf, sb.len);

	/* A CA and a certificate for the Ed25519 key, and a signature made
	 * with that certificate. */
	if (sh("ssh-keygen -q -t ed25519 -N '' -C ca -f k_ca && "
	       "ssh-keygen -q -s k_ca -I id -n ed25519@test k_ed25519.pub "
	       "2>/dev/null && ssh-keygen -q -Y sign -f k_ed25519-cert.pub "
	       "-n git < msg.txt > sig_cert 2>/dev/null && "
	       "ssh-keygen -q -Y sign -f k_ed25519 -n git -O hashalg=sha256 "
	       "< msg.txt > sig_sha256 2>/dev/null") != 0) {
		tap_diag("certificate setup failed");
		exit(99);
	}

	/* A repository with one signed commit per key and one unsigned. */
	if (sh("git init -q repo && cd repo && git config user.name Op && "
	       "git config user.email op@test && "
	       "git commit -q --allow-empty -m unsigned && "
	       "git rev-parse HEAD > ../sha_unsigned && "
	       "git cat-file commit HEAD > ../c_unsigned") != 0)
		exit(99);
	for (i = 0; i < NKEYS; i++) {
		const char *k = keys[i].name;

		if (sh("cd repo && git -c gpg.format=ssh -c "
		       "user.signingkey='%s' commit -q -S --allow-empty "
		       "-m 'signed by %s' && git rev-parse HEAD > ../sha_%s && "
		       "git cat-file commit HEAD > ../c_%s",
		       keypath(k), k, k, k) != 0) {
			tap_diag("git commit -S failed for %s", k);
			exit(99);
		}
	}
	strbuf_release(&sb);
}

/* --- interoperability cases ---------------------------------------------- */

static void test_key_types(void)
{
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		const struct keydef *k = &keys[i];
		struct strbuf name = STRBUF_INIT, sig = STRBUF_INIT,
			      principal = STRBUF_INIT;
		const char *why = k->furrow_ok ? NULL : "too small";

		strbuf_addf(&principal, "%s@test", k->name);
		strbuf_addf(&name, "%s signature, namespace git", k->name);
		strbuf_addf(&sig, "sig_git_%s", k->name);
		check_sig(name.buf, "as_all", principal.buf, "git", "msg.txt",
			  sig.buf, k->furrow_ok, why, !k->furrow_ok);
		strbuf_reset(&name);
		strbuf_reset(&sig);
		strbuf_addf(&name, "%s signature, namespace furrow-policy",
			    k->name);
		strbuf_addf(&sig, "sig_pol_%s", k->name);
		check_sig(name.buf, "as_all", principal.buf, "furrow-policy",
			  "msg.txt", sig.buf, k->furrow_ok, why, !k->furrow_ok);
		strbuf_reset(&name);
		strbuf_addf(&name, "%s signed commit", k->name);
		check_commit(name.buf, "as_all", k->name, k->furrow_ok, why,
			     !k->furrow_ok);
		strbuf_release(&name);
		strbuf_release(&sig);
		strbuf_release(&principal);
	}
	check_sig("Ed25519 signature with hashalg=sha256", "as_all",
		  "ed25519@test", "git", "msg.txt", "sig_sha256", 1, NULL, 0);
}

/* The result names the signer as ssh-keygen would. */
static void test_result_fields(void)
{
	struct strbuf fp = STRBUF_INIT, raw = STRBUF_INIT, leaf = STRBUF_INIT;
	struct allowed_signers *as = NULL;
	struct verify_result res;
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		if (!keys[i].furrow_ok)
			continue;
		if (sh("ssh-keygen -E sha256 -lf k_%s.pub | cut -d' ' -f2 "
		       "> fp_%s", keys[i].name, keys[i].name) != 0)
			exit(99);
		strbuf_reset(&leaf);
		strbuf_addf(&leaf, "fp_%s", keys[i].name);
		slurp(&fp, leaf.buf);
		strbuf_setlen(&fp, fp.len ? fp.len - 1 : 0);
		strbuf_reset(&leaf);
		strbuf_addf(&leaf, "c_%s", keys[i].name);
		slurp(&raw, leaf.buf);
		if (allowed_signers_load(&as, path("as_all")) < 0)
			exit(99);
		is_int(verify_commit(&res, as, raw.buf, raw.len, time(NULL)), 0,
		       "verify_commit succeeds");
		is_str(res.fingerprint, fp.buf, "fingerprint as ssh-keygen -l");
		is_str(res.key_type, keys[i].type, "key type reported");
		ok(res.principal && strncmp(res.principal, keys[i].name,
					    strlen(keys[i].name)) == 0,
		   "principal reported: %s", res.principal ? res.principal :
		   "(null)");
		is_int(res.line, i + 1, "line of the entry reported");
		verify_result_release(&res);
		allowed_signers_free(as);
		as = NULL;
	}
	strbuf_release(&fp);
	strbuf_release(&raw);
	strbuf_release(&leaf);
}

static void test_trust_cases(void)
{
	struct strbuf sb = STRBUF_INIT, raw = STRBUF_INIT;
	char *p;

	check_commit("unsigned commit", "as_all", "unsigned", 0,
		     "commit is not signed", 0);

	as_line(&sb, "p256@test %s", "p256");
	spit("as_other", sb.buf, sb.len);
	check_sig("unknown signer", "as_other", "ed25519@test", "git",
		  "msg.txt", "sig_git_ed25519", 0, "is not in", 0);
	check_commit("unknown signer", "as_other", "ed25519", 0, "is not in",
		     0);

	check_sig("furrow-policy signature checked as git", "as_all",
		  "ed25519@test", "git", "msg.txt", "sig_pol_ed25519", 0,
		  "is for namespace \"furrow-policy\", not \"git\"", 0);
	check_sig("git signature checked as furrow-policy", "as_all",
		  "ed25519@test", "furrow-policy", "msg.txt",
		  "sig_git_ed25519", 0, "namespace \"git\"", 0);

	strbuf_reset(&sb);
	as_line(&sb, "ed25519@test namespaces=\"furrow-policy\" %s",
		"ed25519");
	spit("as_ns", sb.buf, sb.len);
	check_sig("namespaces= excludes git", "as_ns", "ed25519@test", "git",
		  "msg.txt", "sig_git_ed25519", 0,
		  "not allowed for namespace \"git\"", 0);
	check_commit("namespaces= excludes git", "as_ns", "ed25519", 0,
		     "not allowed for namespace", 0);
	check_sig("namespaces= allows furrow-policy", "as_ns", "ed25519@test",
		  "furrow-policy", "msg.txt", "sig_pol_ed25519", 1, NULL, 0);

	strbuf_reset(&sb);
	as_line(&sb, "ed25519@test namespaces=\"git,furrow-policy\" %s",
		"ed25519");
	as_line(&sb, "p256@test namespaces=\"*\" %s", "p256");
	spit("as_ns2", sb.buf, sb.len);
	check_commit("namespaces=\"git,furrow-policy\"", "as_ns2", "ed25519",
		     1, NULL, 0);
	check_commit("namespaces=\"*\"", "as_ns2", "p256", 1, NULL, 0);

	strbuf_reset(&sb);
	as_line(&sb, "ed25519@test valid-before=\"20200101Z\" %s", "ed25519");
	spit("as_expired", sb.buf, sb.len);
	check_sig("expired key", "as_expired", "ed25519@test", "git",
		  "msg.txt", "sig_git_ed25519", 0, "key has expired", 0);
	check_commit("expired key", "as_expired", "ed25519", 0,
		     "key has expired", 0);

	strbuf_reset(&sb);
	as_line(&sb, "ed25519@test valid-after=\"20990101Z\" %s", "ed25519");
	spit("as_future", sb.buf, sb.len);
	check_sig("not yet valid key", "as_future", "ed25519@test", "git",
		  "msg.txt", "sig_git_ed25519", 0, "not yet valid", 0);
	check_commit("not yet valid key", "as_future", "ed25519", 0,
		     "not yet valid", 0);

	strbuf_reset(&sb);
	as_line(&sb, "ed25519@test valid-after=\"20200101\",valid-before="
		"\"209901011200Z\" %s", "ed25519");
	spit("as_window", sb.buf, sb.len);
	check_commit("inside validity window", "as_window", "ed25519", 1,
		     NULL, 0);

	/* One key for several principals: git takes the first valid line's
	 * principal (carol), whose line excludes git, so both reject. */
	strbuf_reset(&sb);
	strbuf_addstr(&sb, "# comment line\n\n");
	as_line(&sb, "carol namespaces=\"furrow-policy\" %s", "ed25519");
	as_line(&sb, "dave %s", "ed25519");
	spit("as_two", sb.buf, sb.len);
	check_commit("key listed for two principals", "as_two", "ed25519", 0,
		     "not allowed for namespace", 0);
	strbuf_reset(&sb);
	as_line(&sb, "alice,bob %s", "ed25519");
	as_line(&sb, "* %s", "p256");
	spit("as_multi", sb.buf, sb.len);
	check_commit("principal list", "as_multi", "ed25519", 1, NULL, 0);
	check_commit("wildcard principal", "as_multi", "p256", 1, NULL, 0);
	check_sig("principal list, -I bob", "as_multi", "bob", "git",
		  "msg.txt", "sig_git_ed25519", 1, NULL, 0);

	/* Tampering. */
	slurp(&raw, "c_ed25519");
	p = strstr(raw.buf, "\n\nsigned by");
	if (!p)
		exit(99);
	p[2] = 'S';
	spit("c_tampered", raw.buf, raw.len);
	if (sh("git -C repo hash-object -t commit -w ../c_tampered "
	       "> sha_tampered") != 0)
		exit(99);
	check_commit("tampered commit message", "as_all", "tampered", 0,
		     "signature invalid", 0);
	check_sig("tampered signed file", "as_all", "ed25519@test", "git",
		  "msg_t.txt", "sig_git_ed25519", 0, "signature invalid", 0);
	check_sig("tampered file, RSA", "as_all", "rsa3072@test", "git",
		  "msg_t.txt", "sig_git_rsa3072", 0, "signature invalid", 0);
	check_sig("tampered file, P-521", "as_all", "p521@test", "git",
		  "msg_t.txt", "sig_git_p521", 0, "signature invalid", 0);
	strbuf_release(&sb);
	strbuf_release(&raw);
}

static void test_bad_armor(void)
{
	struct strbuf sig = STRBUF_INIT, bad = STRBUF_INIT;
	size_t i;

	slurp(&sig, "sig_git_ed25519");
	spit("armor_trunc", sig.buf, sig.len / 2);
	check_sig("truncated armor", "as_all", "ed25519@test", "git",
		  "msg.txt", "armor_trunc", 0, "missing", 0);
	strbuf_add(&bad, sig.buf, sig.len - strlen(SSHSIG_ARMOR_END) - 1);
	spit("armor_noend", bad.buf, bad.len);
	check_sig("armor without END line", "as_all", "ed25519@test", "git",
		  "msg.txt", "armor_noend", 0, "missing", 0);
	strbuf_reset(&bad);
	for (i = 0; i < sig.len; i++) {
		if (sig.buf[i] == '\n')
			strbuf_addch(&bad, '\r');
		strbuf_addch(&bad, sig.buf[i]);
	}
	spit("armor_crlf", bad.buf, bad.len);
	check_sig("CRLF armor", "as_all", "ed25519@test", "git", "msg.txt",
		  "armor_crlf", 0, "bad signature armor", 0);
	strbuf_reset(&bad);
	strbuf_add(&bad, sig.buf, sig.len);
	bad.buf[40] = '!';
	spit("armor_b64", bad.buf, bad.len);
	check_sig("bad base64 in armor", "as_all", "ed25519@test", "git",
		  "msg.txt", "armor_b64", 0, "invalid base64", 0);
	spit("armor_empty", "", 0);
	check_sig("empty signature", "as_all", "ed25519@test", "git",
		  "msg.txt", "armor_empty", 0, "missing", 0);
	/* A valid base64 change inside the signature bytes. */
	strbuf_reset(&bad);
	strbuf_add(&bad, sig.buf, sig.len);
	i = sig.len - strlen(SSHSIG_ARMOR_END) - 8;
	bad.buf[i] = bad.buf[i] == 'A' ? 'B' : 'A';
	spit("armor_flip", bad.buf, bad.len);
	check_sig("changed signature byte", "as_all", "ed25519@test", "git",
		  "msg.txt", "armor_flip", 0, NULL, 0);
	strbuf_release(&sig);
	strbuf_release(&bad);
}

/* cert-authority, security keys, certificates, DSA and SHA-1 RSA. */
static void test_unsupported(void)
{
	struct strbuf sb = STRBUF_INIT, blob = STRBUF_INIT, b64 = STRBUF_INIT,
		      armored = STRBUF_INIT, sig = STRBUF_INIT;
	struct sshsig *parsed = NULL;
	unsigned char zero[64] = { 0 };

	as_line(&sb, "ed25519@test cert-authority %s", "ed25519");
	spit("as_ca_plain", sb.buf, sb.len);
	check_sig("cert-authority line, plain key signature", "as_ca_plain",
		  "ed25519@test", "git", "msg.txt", "sig_git_ed25519", 0,
		  "as_ca_plain:1: cert-authority entries are not supported", 0);

	strbuf_reset(&sb);
	as_line(&sb, "ed25519@test cert-authority %s", "ca");
	spit("as_ca", sb.buf, sb.len);
	check_sig("certificate signature, cert-authority trust", "as_ca",
		  "ed25519@test", "git", "msg.txt", "sig_cert", 0,
		  "cert-authority entries are not supported", 1);
	check_sig("certificate signature, plain trust", "as_all",
		  "ed25519@test", "git", "msg.txt", "sig_cert", 0,
		  "unsupported key type ssh-ed25519-cert-v01@openssh.com "
		  "(certificates are not supported)", 0);

	/* An sk-ssh-ed25519 key line, written by hand. */
	put_string(&blob, "sk-ssh-ed25519@openssh.com", 26);
	put_string(&blob, zero, 32);
	put_string(&blob, "ssh:", 4);
	sshwire_base64_encode(&b64, blob.buf, blob.len, 1);
	strbuf_reset(&sb);
	as_line(&sb, "ed25519@test %s", "ed25519");
	strbuf_addf(&sb, "sk@test sk-ssh-ed25519@openssh.com %s\n", b64.buf);
	spit("as_sk", sb.buf, sb.len);
	check_sig("sk- key in allowed_signers", "as_sk", "ed25519@test", "git",
		  "msg.txt", "sig_git_ed25519", 0,
		  "as_sk:2: unsupported key type sk-ssh-ed25519@openssh.com "
		  "(security keys are not supported)", 1);

	/* A signature claiming an sk- key. */
	build_sig(&armored, blob.buf, blob.len, "git", "sha512", zero, 64);
	spit("sig_sk", armored.buf, armored.len);
	check_sig("sk- key signature", "as_all", "ed25519@test", "git",
		  "msg.txt", "sig_sk", 0,
		  "unsupported key type sk-ssh-ed25519@openssh.com "
		  "(security keys are not supported)", 0);

	/* A certificate line in allowed_signers. */
	strbuf_reset(&sb);
	strbuf_addstr(&sb, "x@test ");
	pubkey(&sb, "k_ed25519-cert.pub");
	strbuf_addch(&sb, '\n');
	spit("as_cert", sb.buf, sb.len);
	check_sig("certificate key in allowed_signers", "as_cert", "x@test",
		  "git", "msg.txt", "sig_cert", 0,
		  "as_cert:1: unsupported key type "
		  "ssh-ed25519-cert-v01@openssh.com (certificates are not "
		  "supported)", 1);

	/* An RSA signature re-labelled as ssh-rsa (SHA-1). */
	slurp(&sb, "sig_git_rsa3072");
	if (sshsig_parse(&parsed, sb.buf, sb.len) < 0)
		exit(99);
	{
		struct sshwire w;
		const unsigned char *alg, *bytes;
		size_t alen, blen;

		sshwire_init(&w, parsed->sig, parsed->sig_len);
		if (sshwire_string(&w, &alg, &alen) < 0 ||
		    sshwire_string(&w, &bytes, &blen) < 0)
			exit(99);
		put_string(&sig, "ssh-rsa", 7);
		put_string(&sig, bytes, blen);
	}
	strbuf_reset(&armored);
	build_sig(&armored, parsed->pubkey, parsed->pubkey_len, "git",
		  parsed->hashalg, sig.buf, sig.len);
	spit("sig_sha1", armored.buf, armored.len);
	check_sig("ssh-rsa (SHA-1) RSA signature", "as_all", "rsa3072@test",
		  "git", "msg.txt", "sig_sha1", 0,
		  "ssh-rsa (RSA signatures with SHA-1 are not supported)", 0);
	/* The same rebuilt with its real algorithm verifies: build_sig()
	 * writes what ssh-keygen writes. */
	strbuf_reset(&armored);
	build_sig(&armored, parsed->pubkey, parsed->pubkey_len, "git",
		  parsed->hashalg, parsed->sig, parsed->sig_len);
	spit("sig_rebuilt", armored.buf, armored.len);
	check_sig("re-armored RSA signature", "as_all", "rsa3072@test", "git",
		  "msg.txt", "sig_rebuilt", 1, NULL, 0);
	sshsig_free(parsed);

	/* ssh-dss is named as unsupported when parsing. */
	{
		struct allowed_signers *as = NULL;
		const char *line = "d ssh-dss AAAAB3NzaC1kc3MAAACBAP\n";

		ok(allowed_signers_parse(&as, "dss", line, strlen(line)) ==
		   FURROW_EINVAL && contains(error_message(),
					     "dss:1: unsupported key type "
					     "ssh-dss (DSA keys are not "
					     "supported)"),
		   "ssh-dss line rejected: %s", error_message());
		allowed_signers_free(as);
	}
	strbuf_release(&sb);
	strbuf_release(&blob);
	strbuf_release(&b64);
	strbuf_release(&armored);
	strbuf_release(&sig);
}

static void test_commit_split(void)
{
	struct strbuf raw = STRBUF_INIT, pay = STRBUF_INIT, sig = STRBUF_INIT;
	int64_t t = 0;

	slurp(&raw, "c_ed25519");
	is_int(commitsig_split(&pay, &sig, raw.buf, raw.len), 0,
	       "signed commit splits");
	ok(strncmp(sig.buf, SSHSIG_ARMOR_BEGIN "\n", 30) == 0 &&
	   contains(sig.buf, "\n" SSHSIG_ARMOR_END), "signature is armor");
	ok(!contains(pay.buf, "gpgsig"), "payload has no gpgsig header");
	spit("payload", pay.buf, pay.len);
	spit("payload.sig", sig.buf, sig.len);
	ok(ssh_verify("as_all", "ed25519@test", "git", "payload",
		      "payload.sig"),
	   "ssh-keygen verifies furrow's payload and signature split");
	is_int(commitsig_committer_time(&t, raw.buf, raw.len), 0,
	       "committer time read");
	ok(t > 1600000000 && t < 4102444800, "committer time plausible: %lld",
	   (long long)t);

	strbuf_reset(&pay);
	strbuf_reset(&sig);
	slurp(&raw, "c_unsigned");
	is_int(commitsig_split(&pay, &sig, raw.buf, raw.len), FURROW_ENOENT,
	       "unsigned commit");
	is_str(error_message(), "commit is not signed", "its message");
	strbuf_release(&raw);
	strbuf_release(&pay);
	strbuf_release(&sig);
}

int main(void)
{
	T = tap_tmpdir();
	/* Keep the user's git and ssh configuration out of the test. */
	setenv("HOME", T, 1);
	setenv("TZ", "UTC", 1);
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	setenv("GIT_AUTHOR_NAME", "Op", 1);
	setenv("GIT_AUTHOR_EMAIL", "op@test", 1);
	setenv("GIT_COMMITTER_NAME", "Op", 1);
	setenv("GIT_COMMITTER_EMAIL", "op@test", 1);
	if (sh("command -v ssh-keygen >/dev/null && "
	       "command -v git >/dev/null") != 0) {
		tap_diag("ssh-keygen and git are needed");
		return 1;
	}
	setup();
	test_commit_split();
	test_key_types();
	test_result_fields();
	test_trust_cases();
	test_bad_armor();
	test_unsupported();
	return tap_done();
}
