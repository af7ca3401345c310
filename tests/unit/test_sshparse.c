/*
 * test_sshparse.c - the signature parsers with hostile input: the SSH
 * wire reader and base64 (core/sshwire.c), SSHSIG armor and blobs
 * (core/sshsig.c), allowed_signers (core/allowed_signers.c) and the
 * commit signature splitter (core/commitsig.c).  Real fixtures come from
 * stock ssh-keygen; interoperability of verdicts is in test_verify.c.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "allowed_signers.h"
#include "bug.h"
#include "commitsig.h"
#include "error.h"
#include "limits.h"
#include "sshsig.h"
#include "sshwire.h"
#include "strbuf.h"
#include "tap.h"
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

static int contains(const char *hay, const char *needle)
{
	return strstr(hay, needle) != NULL;
}


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

/* --- hostile input ------------------------------------------------------- */

static void test_sshwire(void)
{
	static const unsigned char huge[] = { 0xff, 0xff, 0xff, 0xff, 'a' };
	static const unsigned char past[] = { 0, 0, 0, 5, 'a', 'b' };
	static const unsigned char neg[] = { 0, 0, 0, 1, 0x80 };
	static const unsigned char pad[] = { 0, 0, 0, 2, 0x00, 0x7f };
	static const unsigned char good[] = { 0, 0, 0, 2, 0x00, 0x80, 'x' };
	static const unsigned char nul[] = { 0, 0, 0, 2, 'a', 0 };
	struct strbuf sb = STRBUF_INIT;
	const unsigned char *p;
	struct sshwire w;
	uint32_t u;
	size_t n;
	char *s;

	sshwire_init(&w, huge, 3);
	is_int(sshwire_u32(&w, &u), FURROW_ESYNTAX, "truncated uint32");
	sshwire_init(&w, huge, sizeof(huge));
	is_int(sshwire_string(&w, &p, &n), FURROW_ESYNTAX,
	       "string length 0xffffffff");
	is_int(w.off, 0, "cursor unchanged after a failed read");
	sshwire_init(&w, past, sizeof(past));
	is_int(sshwire_string(&w, &p, &n), FURROW_ESYNTAX,
	       "string length past the end");
	sshwire_init(&w, neg, sizeof(neg));
	is_int(sshwire_mpint(&w, &p, &n), FURROW_ESYNTAX, "negative mpint");
	sshwire_init(&w, pad, sizeof(pad));
	is_int(sshwire_mpint(&w, &p, &n), FURROW_ESYNTAX,
	       "non-minimal mpint");
	sshwire_init(&w, good, sizeof(good));
	ok(sshwire_mpint(&w, &p, &n) == 0 && n == 1 && p[0] == 0x80,
	   "mpint with a needed zero byte");
	is_int(sshwire_end(&w), FURROW_ESYNTAX, "trailing byte noticed");
	sshwire_init(&w, nul, sizeof(nul));
	is_int(sshwire_cstring(&w, &s, 10), FURROW_ESYNTAX,
	       "NUL inside a text string");
	sshwire_init(&w, past + 4, 0);
	is_int(sshwire_u32(&w, &u), FURROW_ESYNTAX, "empty buffer");

	is_int(sshwire_base64_decode(&sb, "aGk=", 4, 100), 0, "base64 ok");
	ok(sb.len == 2 && memcmp(sb.buf, "hi", 2) == 0, "base64 value");
	strbuf_reset(&sb);
	is_int(sshwire_base64_decode(&sb, "aGk", 3, 100), FURROW_ESYNTAX,
	       "base64 without padding");
	is_int(sshwire_base64_decode(&sb, "aGl=", 4, 100), FURROW_ESYNTAX,
	       "base64 with non-zero unused bits");
	is_int(sshwire_base64_decode(&sb, "a=k=", 4, 100), FURROW_ESYNTAX,
	       "base64 with '=' inside");
	is_int(sshwire_base64_decode(&sb, "aG k", 4, 100), FURROW_ESYNTAX,
	       "base64 with a space");
	is_int(sshwire_base64_decode(&sb, "====", 4, 100), FURROW_ESYNTAX,
	       "base64 of only padding");
	is_int(sshwire_base64_decode(&sb, "aGVsbG8h", 8, 5), FURROW_ELIMIT,
	       "base64 over the limit");
	is_int(sb.len, 0, "nothing appended on failure");
	strbuf_reset(&sb);
	sshwire_base64_encode(&sb, "hello", 5, 0);
	is_str(sb.buf, "aGVsbG8", "unpadded encoding");
	strbuf_release(&sb);
}

static void test_sshsig_parse(void)
{
	struct strbuf sig = STRBUF_INIT, bin = STRBUF_INIT, b = STRBUF_INIT;
	struct sshsig *s = NULL;
	const char *body;
	size_t i, end;
	int all_fail = 1;

	slurp(&sig, "sig_git_p256");
	is_int(sshsig_parse(&s, sig.buf, sig.len), 0, "real signature parses");
	ok(s && strcmp(s->namespace, "git") == 0 &&
	   strcmp(s->hashalg, "sha512") == 0, "namespace and hash read");
	sshsig_free(s);
	s = NULL;

	/* Every truncation of the binary blob fails cleanly. */
	body = sig.buf + strlen(SSHSIG_ARMOR_BEGIN) + 1;
	end = (size_t)(strstr(body, "\n" SSHSIG_ARMOR_END) - body);
	for (i = 0; i < end; i++)
		if (body[i] != '\n')
			strbuf_addch(&b, body[i]);
	if (sshwire_base64_decode(&bin, b.buf, b.len, 1u << 20) < 0)
		exit(99);
	for (i = 0; i < bin.len; i++) {
		if (sshsig_parse_blob(&s, bin.buf, i) == 0) {
			all_fail = 0;
			sshsig_free(s);
		}
	}
	ok(all_fail, "all %zu truncations of the blob rejected", bin.len);
	is_int(sshsig_parse_blob(&s, bin.buf, bin.len), 0, "whole blob ok");
	sshsig_free(s);
	strbuf_add(&bin, "x", 1);
	is_int(sshsig_parse_blob(&s, bin.buf, bin.len), FURROW_ESYNTAX,
	       "trailing byte rejected");
	bin.buf[6 + 3] = 2;
	ok(sshsig_parse_blob(&s, bin.buf, bin.len) < 0 &&
	   contains(error_message(), "version 2"), "version 2 rejected");
	bin.buf[6 + 3] = 1;
	bin.buf[0] = 'X';
	ok(sshsig_parse_blob(&s, bin.buf, bin.len) < 0 &&
	   contains(error_message(), "bad magic"), "bad magic rejected");
	bin.buf[0] = 'S';
	/* The public key length field made huge. */
	memset(bin.buf + 10, 0xff, 4);
	is_int(sshsig_parse_blob(&s, bin.buf, bin.len), FURROW_ESYNTAX,
	       "huge length field rejected");

	/* Armor variants. */
	strbuf_reset(&b);
	strbuf_add(&b, sig.buf, sig.len);
	strbuf_addstr(&b, "trailing text is ignored, as by OpenSSH\n");
	is_int(sshsig_parse(&s, b.buf, b.len), 0, "text after END ignored");
	sshsig_free(s);
	strbuf_reset(&b);
	strbuf_addstr(&b, "junk\n");
	strbuf_add(&b, sig.buf, sig.len);
	is_int(sshsig_parse(&s, b.buf, b.len), FURROW_ESYNTAX,
	       "text before BEGIN rejected");
	is_int(sshsig_parse(&s, SSHSIG_ARMOR_BEGIN "\n\n" SSHSIG_ARMOR_END,
			    strlen(SSHSIG_ARMOR_BEGIN "\n\n" SSHSIG_ARMOR_END)),
	       FURROW_ESYNTAX,
	       "empty armor body rejected");
	is_int(sshsig_parse(&s, sig.buf, LIMIT_SSHSIG_ARMOR_BYTES + 1),
	       FURROW_ELIMIT, "oversized armor rejected by its length");
	ok(s == NULL, "no output on failure");
	strbuf_release(&sig);
	strbuf_release(&bin);
	strbuf_release(&b);
}

static int parse_as(const char *text, const char *want_msg)
{
	struct allowed_signers *as = NULL;
	int rc = allowed_signers_parse(&as, "f", text, strlen(text));

	if (rc < 0 && want_msg && !contains(error_message(), want_msg))
		tap_diag("message: %s", error_message());
	allowed_signers_free(as);
	return rc < 0 && (!want_msg || contains(error_message(), want_msg));
}

static void test_allowed_signers_parse(void)
{
	struct strbuf key = STRBUF_INIT, t = STRBUF_INIT;
	struct allowed_signers *as = NULL;
	char *big;
	size_t i;

	pubkey(&key, "k_ed25519.pub");
	strbuf_addf(&t, "# comment\r\n\r\n  \t\n\"a b,c\" %s comment here\r\n"
		    "d NameSpaces=\"git\",VALID-AFTER=\"20200101\" %s\n"
		    "e valid-before=\"20300102030405Z\" %s", key.buf, key.buf,
		    key.buf);
	is_int(allowed_signers_parse(&as, "f", t.buf, t.len), 0,
	       "comments, CRLF, quotes, options, comment, no final newline");
	if (as && as->n == 3) {
		is_str(as->v[0].principals, "a b,c", "quoted principals");
		is_int(as->v[0].line, 4, "line numbers count blank lines");
		is_str(as->v[1].namespaces, "git", "namespaces read");
		is_int(as->v[1].valid_after, 1577836800, "valid-after UTC");
		is_int(as->v[2].valid_before, 1893553445, "valid-before UTC");
	} else {
		ok(0, "three entries parsed");
	}
	allowed_signers_free(as);
	as = NULL;

#define BAD(text, msg, name) ok(parse_as(text, msg), "%s", name)
	strbuf_reset(&t);
	strbuf_addf(&t, "a\n");
	BAD(t.buf, "f:1: missing key", "principal only");
	strbuf_reset(&t);
	strbuf_addf(&t, "\n\na bogus=\"x\" %s\n", key.buf);
	BAD(t.buf, "f:3:", "unknown option names line 3");
	strbuf_reset(&t);
	strbuf_addf(&t, "a namespaces=\"git %s\n", key.buf);
	BAD(t.buf, "f:1:", "missing end quote");
	strbuf_reset(&t);
	strbuf_addf(&t, "a namespaces=git %s\n", key.buf);
	BAD(t.buf, "missing start quote", "unquoted option value");
	strbuf_reset(&t);
	strbuf_addf(&t, "a namespaces=\"a\",namespaces=\"b\" %s\n", key.buf);
	BAD(t.buf, "multiple", "duplicate option");
	strbuf_reset(&t);
	strbuf_addf(&t, "a valid-after=\"20300101\",valid-before=\"20200101\""
		    " %s\n", key.buf);
	BAD(t.buf, "before", "valid-before before valid-after");
	strbuf_reset(&t);
	strbuf_addf(&t, "a valid-after=\"20230230\" %s\n", key.buf);
	BAD(t.buf, "invalid \"valid-after\" time", "30 February");
	strbuf_reset(&t);
	strbuf_addf(&t, "a valid-after=\"2023010\" %s\n", key.buf);
	BAD(t.buf, "invalid", "short date");
	strbuf_reset(&t);
	strbuf_addf(&t, "a namespaces=\"git\", %s\n", key.buf);
	BAD(t.buf, "f:1:", "trailing comma in options");
	BAD("a ssh-ed25519 AAAA!AAA\n", "invalid base64", "bad base64 key");
	BAD("a ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA==\n", "f:1: invalid key",
	    "truncated key blob");
	BAD("a ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAAAAQE=\n", "f:1:",
	    "key type does not match the blob");
	BAD("a foo-key AAAA\n", "unknown key type \"foo-key\"",
	    "unknown key type");
	BAD("a ssh-ed25519\n", "missing key", "type without key");
	strbuf_reset(&t);
	strbuf_addf(&t, "a CERT-AUTHORITY %s\n", key.buf);
	BAD(t.buf, "cert-authority entries are not supported",
	    "cert-authority, any case");
	strbuf_reset(&t);
	strbuf_addf(&t, "a %s\n", key.buf);
	strbuf_addch(&t, '\0');
	strbuf_addstr(&t, "x\n");
	{
		int rc = allowed_signers_parse(&as, "f", t.buf, t.len);

		ok(rc == FURROW_ESYNTAX && contains(error_message(), "f:2: NUL"),
		   "NUL byte rejected with its line");
		allowed_signers_free(as);
		as = NULL;
	}
	big = xmalloc(LIMIT_ALLOWED_SIGNERS_LINE + 10);
	memset(big, 'a', LIMIT_ALLOWED_SIGNERS_LINE + 9);
	big[LIMIT_ALLOWED_SIGNERS_LINE + 9] = '\0';
	ok(allowed_signers_parse(&as, "f", big, strlen(big)) == FURROW_ELIMIT,
	   "overlong line hits the limit");
	free(big);
	ok(allowed_signers_parse(&as, "f", "", LIMIT_ALLOWED_SIGNERS_BYTES + 1)
	   == FURROW_ELIMIT, "oversized file hits the limit");
	strbuf_reset(&t);
	for (i = 0; i <= LIMIT_ALLOWED_SIGNERS_ENTRIES; i++)
		strbuf_addf(&t, "p%zu %s\n", i, key.buf);
	ok(allowed_signers_parse(&as, "f", t.buf, t.len) == FURROW_ELIMIT,
	   "too many entries hits the limit");
	is_int(allowed_signers_load(&as, path("does-not-exist")) < 0, 1,
	       "missing file is an error");
	allowed_signers_free(NULL);

	/* OpenSSH's match_pattern_list(). */
	is_int(allowed_signers_match_list("git", "git,furrow-policy"), 1,
	       "exact in list");
	is_int(allowed_signers_match_list("gitx", "git"), 0, "no prefix match");
	is_int(allowed_signers_match_list("furrow-policy", "furrow-*"), 1,
	       "star");
	is_int(allowed_signers_match_list("git", "g?t"), 1, "question mark");
	is_int(allowed_signers_match_list("git", "*,!git"), -1, "negation");
	is_int(allowed_signers_match_list("", "*"), 1, "star matches empty");
	is_int(allowed_signers_match_list("aaaaaaaaaaaaaaaaaaaaaaaaaaaaab",
					  "*a*a*a*a*a*a*a*a*a*a*c"), 0,
	       "backtracking pattern ends");
	strbuf_release(&key);
	strbuf_release(&t);
#undef BAD
}

static void test_commitsig(void)
{
	struct strbuf pay = STRBUF_INIT, sig = STRBUF_INIT;
	int64_t t = 0;
	const char *c;

	c = "tree 1\ngpgsig-sha256 -----BEGIN SSH SIGNATURE-----\n x\n"
	    " -----END SSH SIGNATURE-----\ncommitter A <a> 5 +0000\n\n"
	    "gpgsig not a header\n";
	strbuf_reset(&pay);
	is_int(commitsig_split(&pay, &sig, c, strlen(c)), FURROW_ENOENT,
	       "only gpgsig-sha256: not signed in a SHA-1 repository");
	is_str(pay.buf, "tree 1\ncommitter A <a> 5 +0000\n\n"
	       "gpgsig not a header\n", "gpgsig-sha256 dropped, body kept");
	c = "tree 1\ngpgsig a\n b\ngpgsig-sha256 x\n y\nauthor Z\n\nmsg";
	strbuf_reset(&pay);
	strbuf_reset(&sig);
	is_int(commitsig_split(&pay, &sig, c, strlen(c)), 0, "both headers");
	is_str(sig.buf, "a\nb\n", "continuation lines joined by newline");
	is_str(pay.buf, "tree 1\nauthor Z\n\nmsg", "payload as git's");
	c = "tree 1\n\ngpgsig a\n";
	is_int(commitsig_split(&pay, &sig, c, strlen(c)), FURROW_ENOENT,
	       "gpgsig in the message is not a signature");
	is_int(commitsig_split(&pay, &sig, "", 0), FURROW_ENOENT, "empty");
	is_int(commitsig_split(&pay, &sig, "x", LIMIT_SIGNED_COMMIT_BYTES + 1),
	       FURROW_ELIMIT, "oversized commit");

	c = "tree 1\ncommitter A <a> 1700000000 +0100\n";
	ok(commitsig_committer_time(&t, c, strlen(c)) == 0 && t == 1700000000,
	   "committer time");
	c = "tree 1\ncommitter A <a> 12x +0100\n";
	is_int(commitsig_committer_time(&t, c, strlen(c)), FURROW_ESYNTAX,
	       "malformed committer time");
	c = "tree 1\ncommitter A <a> 99999999999999999999 +0000\n";
	is_int(commitsig_committer_time(&t, c, strlen(c)), FURROW_ESYNTAX,
	       "overflowing committer time");
	c = "tree 1\n\ncommitter A <a> 5 +0000\n";
	is_int(commitsig_committer_time(&t, c, strlen(c)), FURROW_ESYNTAX,
	       "committer line only in the message");
	c = "tree 1\ncommitter A <a>";
	is_int(commitsig_committer_time(&t, c, strlen(c)), FURROW_ESYNTAX,
	       "committer without time");
	strbuf_release(&pay);
	strbuf_release(&sig);
}

int main(void)
{
	T = tap_tmpdir();
	setenv("HOME", T, 1);
	if (sh("ssh-keygen -q -t ed25519 -N '' -f k_ed25519 && "
	       "ssh-keygen -q -t ecdsa -b 256 -N '' -f k_p256 && "
	       "echo data > msg && ssh-keygen -q -Y sign -f k_p256 -n git "
	       "< msg > sig_git_p256 2>/dev/null") != 0) {
		tap_diag("ssh-keygen is needed");
		return 1;
	}
	test_sshwire();
	test_sshsig_parse();
	test_allowed_signers_parse();
	test_commitsig();
	return tap_done();
}
