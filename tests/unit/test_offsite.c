/*
 * test_offsite.c - the offsite copy of backups (core/offsite.c) and
 * http_put()/http_fetch() (core/http.c) against a real nginx WebDAV
 * server over HTTPS (tests/servers.sh start_webdav_https: `dav_methods
 * PUT`, a bearer token, a CA and certificate made with openssl, and a
 * "liar" location that reads back something other than what was PUT).
 * Objects are checked on the server's disk too.  As root, with ip(8),
 * tc and iptables, a second nginx in a network namespace behind a
 * rate-limited veth pair has its link cut in the middle of an upload.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "http.h"
#include "monoclock.h"
#include "offsite.h"
#include "strbuf.h"
#include "tap.h"
#include "banned.h"

#define TOKEN "s3cret-OFFSITE-77"
#define WRONG "wrong-TOKEN-99"

static char T[512];           /* scratch dir */
static char servers_sh[1024]; /* tests/servers.sh, absolute */
static int servers_started;
static char url[256], ca[700], token[700], wrong_token[700], store[700];

__attribute__((format(printf, 1, 2)))
static int sh(const char *fmt, ...)
{
	struct strbuf cmd = STRBUF_INIT;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	strbuf_vaddf(&cmd, fmt, ap);
	va_end(ap);
	rc = system(cmd.buf);
	if (rc != 0)
		tap_diag("command failed (%d): %s", rc, cmd.buf);
	strbuf_release(&cmd);
	return rc;
}

/* First line of a command's output, into a static buffer. */
__attribute__((format(printf, 1, 2)))
static const char *out_of(const char *fmt, ...)
{
	static char bufs[4][4096];
	static int next;
	char *b = bufs[next++ % 4];
	struct strbuf cmd = STRBUF_INIT;
	va_list ap;
	FILE *f;

	va_start(ap, fmt);
	strbuf_vaddf(&cmd, fmt, ap);
	va_end(ap);
	b[0] = '\0';
	if ((f = popen(cmd.buf, "r"))) {
		if (fgets(b, sizeof(bufs[0]), f))
			b[strcspn(b, "\n")] = '\0';
		pclose(f);
	}
	strbuf_release(&cmd);
	return b;
}

static const char *path_in(const char *leaf)
{
	static char bufs[8][700];
	static int next;
	char *b = bufs[next++ % 8];

	snprintf(b, sizeof(bufs[0]), "%s/%s", T, leaf);
	return b;
}

static int write_bytes(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (!f)
		return -1;
	if (len && fwrite(data, 1, len, f) != len) {
		fclose(f);
		return -1;
	}
	return fclose(f);
}

/* The file as bytes; 0 if it could be read. */
static int read_bytes(const char *path, struct strbuf *sb)
{
	strbuf_reset(sb);
	if (strbuf_read_file(sb, path, 64u << 20)) {
		error_clear();
		return -1;
	}
	return 0;
}

static int exists(const char *path)
{
	return access(path, F_OK) == 0;
}

static int has(const char *hay, const char *needle)
{
	return strstr(hay, needle) != NULL;
}

/* Neither token anywhere in the current message. */
static int no_token(void)
{
	return !has(error_message(), TOKEN) && !has(error_message(), WRONG);
}

/* Bytes that look like an encrypted chunk and have NULs in them. */
static void fill(struct strbuf *sb, size_t len, unsigned seed)
{
	unsigned x = seed * 2654435761u + 1;
	size_t i;

	strbuf_reset(sb);
	strbuf_grow(sb, len);
	for (i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		/* Every 7th byte a NUL, runs of them now and then. */
		strbuf_addch(sb, i % 7 == 0 || (i / 4096) % 5 == 3 ? 0 : (int)(x >> 16));
	}
}

static int lines_in(const char *path)
{
	return (int)strtol(out_of("wc -l <'%s' 2>/dev/null || echo 0", path), NULL, 10);
}

/* ---- servers ---------------------------------------------------------- */

static void stop_servers(void)
{
	if (servers_started)
		sh("SERVERS_DIR='%s' bash -c '. \"%s\"; stop_servers'",
		   path_in("servers"), servers_sh);
	servers_started = 0;
}

/* Run a servers.sh function (its output to the test's stderr); 0 if it
 * succeeded. */
static int servers(const char *fn_and_args)
{
	servers_started = 1;
	return sh("SERVERS_OWNER=%d SERVERS_DIR='%s' bash -c '. \"%s\"; %s' >&2",
		  (int)getpid(), path_in("servers"), servers_sh, fn_and_args);
}

/* A variable from an env file start_webdav_https* wrote. */
static const char *env_of(const char *file, const char *var)
{
	return out_of("bash -c '. \"%s\" && printf \"%%s\\n\" \"$%s\"'", file, var);
}

static struct offsite site(void)
{
	struct offsite o = {
		.url = url, .token_file = token, .ca_file = ca, .timeout_ms = 10000,
	};

	return o;
}

/* ---- tests ------------------------------------------------------------ */

static void test_round_trip(void)
{
	struct offsite o = site();
	struct strbuf data = STRBUF_INIT, got = STRBUF_INIT, disk = STRBUF_INIT;
	const char *name = "chunks/ab/abcdef0123456789";
	char base[300];
	int ret;

	fill(&data, 200 * 1024, 1);
	ret = offsite_put(&o, name, data.buf, data.len);
	ok(ret == 0, "put: 200 KiB with NULs (%s)", ret ? error_message() : "");
	ret = read_bytes(path_in("store/chunks/ab/abcdef0123456789"), &disk);
	ok(ret == 0 && disk.len == data.len && !memcmp(disk.buf, data.buf, data.len),
	   "put: the server's file is the bytes, all %zu of them", disk.len);
	strbuf_addstr(&got, "old contents");
	ret = offsite_get(&o, name, &got, 1u << 20);
	ok(ret == 0, "get: the object (%s)", ret ? error_message() : "");
	ok(got.len == data.len && !memcmp(got.buf, data.buf, data.len),
	   "get: exactly the bytes put (%zu of %zu), contents replaced",
	   got.len, data.len);
	ok(got.buf[got.len] == '\0', "get: the strbuf is still NUL-terminated");

	/* The same bytes again: an overwrite, harmless (204 this time). */
	ret = offsite_put(&o, name, data.buf, data.len);
	ok(ret == 0, "put: the same object again is fine (%s)",
	   ret ? error_message() : "");
	/* The base URL without its trailing slash names the same place. */
	snprintf(base, sizeof(base), "%.*s", (int)strlen(url) - 1, url);
	o.url = base;
	fill(&data, 1000, 2);
	ret = offsite_put(&o, "snapshots/0000000042", data.buf, data.len);
	ok(ret == 0, "put: base URL without a trailing slash (%s)",
	   ret ? error_message() : "");
	ok(read_bytes(path_in("store/snapshots/0000000042"), &disk) == 0 &&
	   disk.len == 1000, "  stored under the base");
	/* Other bytes under the same name replace the old ones. */
	fill(&data, 3000, 3);
	ret = offsite_put(&o, "snapshots/0000000042", data.buf, data.len);
	ret = ret ? ret : offsite_get(&o, "snapshots/0000000042", &got, 1u << 20);
	ok(ret == 0 && got.len == 3000 && !memcmp(got.buf, data.buf, 3000),
	   "put: other bytes under a name replace it (%s)", ret ? error_message() : "");
	/* Nothing at all. */
	ret = offsite_put(&o, "empty-object", "", 0);
	ret = ret ? ret : offsite_get(&o, "empty-object", &got, 10);
	ok(ret == 0 && got.len == 0, "an empty object: put and get (%s)",
	   ret ? error_message() : "");
	strbuf_release(&data);
	strbuf_release(&got);
	strbuf_release(&disk);
}

static void test_errors(void)
{
	struct offsite o = site();
	struct strbuf data = STRBUF_INIT, got = STRBUF_INIT;
	char dead[128], big_name[OFFSITE_NAME_BYTES + 8];
	static const char *const bad[] = {
		"", "/chunks/x", "../x", "a/../b", "a..b", "Chunks/x", "a b", "a\nb",
		"a%2fb", "a?b", "a//b", "a/", "./a", "a/./b", "a/.", ".", "a\\b",
	};
	const char *access = path_in("servers/webdav/access.log");
	size_t i;
	int ret, before, refused = 1;
	double t0;

	fill(&data, 5000, 4);

	/* Missing. */
	strbuf_addstr(&got, "left over");
	ret = offsite_get(&o, "chunks/00/nothing-here", &got, 1000);
	is_int(ret, FURROW_ENOENT, "get: a missing object is ENOENT");
	ok(has(error_message(), "no such object") &&
	   strstr(error_message(), url) == error_message(),
	   "  says so, starting with the URL: %s", error_message());
	is_int(got.len, 0, "  out is left empty");

	/* Wrong token, no token. */
	o.token_file = wrong_token;
	ret = offsite_put(&o, "chunks/aa/wrong", data.buf, data.len);
	is_int(ret, FURROW_EINVAL, "put with a wrong token: EINVAL");
	ok(has(error_message(), "offsite target refused the token") && no_token(),
	   "  refused the token, and neither token in: %s", error_message());
	ok(!exists(path_in("store/chunks/aa/wrong")), "  nothing stored");
	ret = offsite_get(&o, "chunks/ab/abcdef0123456789", &got, 1u << 20);
	is_int(ret, FURROW_EINVAL, "get with a wrong token: EINVAL");
	ok(has(error_message(), "offsite target refused the token") && no_token(),
	   "  says so without the token: %s", error_message());
	o.token_file = NULL;
	ret = offsite_put(&o, "chunks/aa/none", data.buf, data.len);
	ok(ret == FURROW_EINVAL && has(error_message(), "wants a token"),
	   "put without a token: EINVAL, wants a token: %s", error_message());
	o.token_file = path_in("no-such-token");
	ret = offsite_put(&o, "chunks/aa/none", data.buf, data.len);
	ok(ret == FURROW_ENOENT, "a missing token file: ENOENT (%d %s)", ret,
	   error_message());
	o.token_file = token;

	/* Names: refused before anything is sent. */
	before = lines_in(access);
	for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		ret = offsite_put(&o, bad[i], data.buf, data.len);
		if (ret != FURROW_EINVAL) {
			tap_diag("put of name %zu: %d %s", i, ret, error_message());
			refused = 0;
		}
		ret = offsite_get(&o, bad[i], &got, 100);
		if (ret != FURROW_EINVAL) {
			tap_diag("get of name %zu: %d %s", i, ret, error_message());
			refused = 0;
		}
	}
	ok(refused, "bad names refused with EINVAL, put and get (%zu names)", i);
	ret = offsite_put(&o, NULL, data.buf, data.len);
	ok(ret == FURROW_EINVAL, "a NULL name: EINVAL");
	memset(big_name, 'a', sizeof(big_name) - 1);
	big_name[sizeof(big_name) - 1] = '\0';
	ret = offsite_put(&o, big_name, data.buf, data.len);
	ok(ret == FURROW_EINVAL && has(error_message(), "OFFSITE_NAME_BYTES"),
	   "a name over the limit: EINVAL naming it: %s", error_message());
	is_int(lines_in(access), before, "  none of them reached the server");
	ret = offsite_put(&o, "a/b.c/d_e-f.9", data.buf, data.len);
	ok(ret == 0, "every allowed character (%s)", ret ? error_message() : "");
	o.url = "http://example.net/dav/";
	ret = offsite_put(&o, "x", data.buf, data.len);
	ok(ret == FURROW_EINVAL && has(error_message(), "use https://"),
	   "plain http:// to another host refused: %s", error_message());
	o.url = "https://localhost:1/dav/?x=1";
	ret = offsite_put(&o, "x", data.buf, data.len);
	ok(ret == FURROW_EINVAL, "a base URL with a query refused: %s", error_message());
	o.url = url;

	/* Too big for the server (client_max_body_size 1m): a status. */
	fill(&data, 1100 * 1024, 5);
	ret = offsite_put(&o, "chunks/aa/huge", data.buf, data.len);
	ok(ret == FURROW_EIO && has(error_message(), "HTTP 413"),
	   "put: 413 is EIO naming the status: %s", error_message());
	fill(&data, 5000, 4);

	/* max. */
	ret = offsite_put(&o, "chunks/aa/five-thousand", data.buf, data.len);
	ret = ret ? ret : offsite_get(&o, "chunks/aa/five-thousand", &got, 5000);
	ok(ret == 0 && got.len == 5000, "get: max equal to the size is fine (%s)",
	   ret ? error_message() : "");
	ret = offsite_get(&o, "chunks/aa/five-thousand", &got, 4999);
	ok(ret == FURROW_ELIMIT && has(error_message(), "4999"),
	   "get: one byte over max is ELIMIT naming the limit: %s", error_message());
	is_int(got.len, 0, "  out is left empty");

	/* Nobody there: refused at once. */
	snprintf(dead, sizeof(dead), "https://localhost:%s/",
		 out_of("python3 -c 'import socket; s=socket.socket(); "
			"s.bind((\"127.0.0.1\",0)); print(s.getsockname()[1])'"));
	o.url = dead;
	t0 = monoclock_now();
	ret = offsite_put(&o, "chunks/aa/x", data.buf, data.len);
	ok(ret == FURROW_EIO && monoclock_now() - t0 < 2,
	   "put: server down is EIO, quickly (%.2f s): %s", monoclock_now() - t0,
	   error_message());
	ret = offsite_get(&o, "chunks/aa/x", &got, 100);
	is_int(ret, FURROW_EIO, "get: server down is EIO");
	o.url = url;

	/* A CA that did not sign the server's certificate. */
	o.ca_file = path_in("other-ca.pem");
	ret = offsite_put(&o, "chunks/aa/ca", data.buf, data.len);
	ok(ret == FURROW_EIO && no_token(), "put: wrong CA is EIO: %s", error_message());
	ok(!exists(path_in("store/chunks/aa/ca")), "  nothing stored");
	ret = offsite_get(&o, "chunks/aa/five-thousand", &got, 10000);
	is_int(ret, FURROW_EIO, "get: wrong CA is EIO");
	o.ca_file = NULL;
	ret = offsite_get(&o, "chunks/aa/five-thousand", &got, 10000);
	is_int(ret, FURROW_EIO, "get: the system bundle does not know the test CA");
	o.ca_file = ca;

	ok(sh("! grep -q -e '%s' -e '%s' '%s' '%s'", TOKEN, WRONG, access,
	      path_in("servers/webdav/error.log")) == 0,
	   "no token in the server's logs");
	strbuf_release(&data);
	strbuf_release(&got);
}

/* The server's data changes behind its back; and a server that stores one
 * thing and reads back another. */
static void test_lying_server(void)
{
	struct offsite o = site();
	struct strbuf data = STRBUF_INIT, got = STRBUF_INIT, other = STRBUF_INIT;
	int ret;

	/* Damage on the server's disk: get hands over what is there now
	 * (the caller's hash or decryption catches it), and putting the
	 * object again repairs it. */
	fill(&data, 64 * 1024, 6);
	ret = offsite_put(&o, "chunks/cd/cdcd", data.buf, data.len);
	ok(ret == 0, "put chunks/cd/cdcd (%s)", ret ? error_message() : "");
	fill(&other, 64 * 1024, 7);
	write_bytes(path_in("store/chunks/cd/cdcd"), other.buf, other.len);
	ret = offsite_get(&o, "chunks/cd/cdcd", &got, 1u << 20);
	ok(ret == 0 && got.len == other.len && !memcmp(got.buf, other.buf, other.len),
	   "get after damage on the server returns the damaged bytes, not a "
	   "cached copy (%s)", ret ? error_message() : "");
	ret = offsite_put(&o, "chunks/cd/cdcd", data.buf, data.len);
	ret = ret ? ret : offsite_get(&o, "chunks/cd/cdcd", &got, 1u << 20);
	ok(ret == 0 && got.len == data.len && !memcmp(got.buf, data.buf, data.len),
	   "a second put repairs it (%s)", ret ? error_message() : "");

	/* Read-back: /liar/NAME stores the PUT, GET answers liar-shadow/NAME. */
	ret = offsite_put(&o, "liar/a", data.buf, data.len);
	ok(ret == FURROW_EVERIFY && has(error_message(), "found nothing"),
	   "read-back of a lost object: EVERIFY: %s", error_message());
	ok(exists(path_in("store/liar/a")), "  (the PUT did store it)");
	sh("mkdir -p '%s'", path_in("store/liar-shadow"));
	memcpy(other.buf, data.buf, data.len);
	other.buf[40000] ^= 0x01;
	write_bytes(path_in("store/liar-shadow/b"), other.buf, data.len);
	ret = offsite_put(&o, "liar/b", data.buf, data.len);
	ok(ret == FURROW_EVERIFY && has(error_message(), "first at byte 40000"),
	   "read-back with one bit flipped: EVERIFY at the byte: %s", error_message());
	write_bytes(path_in("store/liar-shadow/c"), data.buf, data.len - 1);
	ret = offsite_put(&o, "liar/c", data.buf, data.len);
	ok(ret == FURROW_EVERIFY && has(error_message(), "65535 bytes, 65536 were written"),
	   "read-back one byte short: EVERIFY: %s", error_message());
	strbuf_reset(&other);
	strbuf_add(&other, data.buf, data.len);
	strbuf_addch(&other, 0);
	write_bytes(path_in("store/liar-shadow/d"), other.buf, other.len);
	ret = offsite_put(&o, "liar/d", data.buf, data.len);
	ok(ret == FURROW_EVERIFY && has(error_message(), "longer"),
	   "read-back one NUL longer: EVERIFY: %s", error_message());
	write_bytes(path_in("store/liar-shadow/e"), data.buf, data.len);
	ret = offsite_put(&o, "liar/e", data.buf, data.len);
	ok(ret == 0, "read-back of the same bytes from elsewhere passes (%s)",
	   ret ? error_message() : "");
	strbuf_release(&data);
	strbuf_release(&got);
	strbuf_release(&other);
}

/* http_put() and http_fetch() themselves. */
static void test_http(void)
{
	struct http_post_options ho = {
		.ca_file = ca, .token_file = token, .timeout_ms = 10000, .max_body = 100,
	};
	struct http_response r;
	struct strbuf data = STRBUF_INIT, u = STRBUF_INIT;
	int ret;

	fill(&data, 4096, 8);
	strbuf_addf(&u, "%shttp/one", url);
	ret = http_put(&r, u.buf, data.buf, data.len, &ho);
	ok(ret == 0 && r.status == 201, "http_put: 201 Created (%d %ld %s)", ret,
	   r.status, ret ? error_message() : "");
	http_response_release(&r);
	ok(sh("grep -q '\"PUT /http/one HTTP/1.1\" 201 .* \"application/octet-stream\"$' '%s'",
	      path_in("servers/webdav/access.log")) == 0,
	   "http_put: Content-Type: application/octet-stream");
	ret = http_put(&r, u.buf, data.buf, data.len, &ho);
	ok(ret == 0 && r.status == 204, "http_put: 204 on overwrite (%ld)", r.status);
	http_response_release(&r);
	ho.max_body = 1u << 20;
	ret = http_fetch(&r, u.buf, &ho);
	ok(ret == 0 && r.status == 200 && r.body_len == 4096 && !r.truncated &&
	   !memcmp(r.body, data.buf, 4096) && r.body[4096] == '\0',
	   "http_fetch: binary body exact, NULs and all (%zu)", r.body_len);
	http_response_release(&r);
	ho.max_body = 1000;
	ret = http_fetch(&r, u.buf, &ho);
	ok(ret == 0 && r.truncated && r.body_len == 1000 &&
	   !memcmp(r.body, data.buf, 1000), "http_fetch: a longer body is truncated "
	   "at max_body, not an error");
	http_response_release(&r);
	ho.token_file = NULL;
	ret = http_fetch(&r, u.buf, &ho);
	ok(ret == 0 && r.status == 401, "http_fetch: without a token, 401");
	http_response_release(&r);
	ret = http_put(&r, "http://example.net/x", "x", 1, &ho);
	ok(ret == FURROW_EINVAL && r.body == NULL, "http_put: plain http:// to "
	   "another host refused, out empty");
	ret = http_fetch(&r, "ftp://localhost/x", &ho);
	is_int(ret, FURROW_EINVAL, "http_fetch: ftp:// refused");
	strbuf_release(&data);
	strbuf_release(&u);
}

/* ---- a link cut in the middle of an upload ---------------------------- */

static char ns[32], veth_h[16], veth_n[16];

static void netns_cleanup(void)
{
	if (!ns[0])
		return;
	sh("SERVERS_DIR='%s' bash -c '. \"%s\"; stop_webdav_https_netns %s'",
	   path_in("servers"), servers_sh, ns);
	sh("ip netns del %s 2>/dev/null; ip link del %s 2>/dev/null; true", ns, veth_h);
	ns[0] = '\0';
}

static void test_cut_link(void)
{
	struct strbuf data = STRBUF_INIT;
	struct http_post_options ho = { .token_file = token, .max_body = 4096 };
	struct http_response r;
	struct offsite o = site();
	char net[32], nurl[128], nca[700], args[1200];
	double t0, dt;
	int ret;

	if (getuid() != 0 || sh("command -v ip tc iptables >/dev/null") != 0) {
		ok(1, "# SKIP cut link: needs root, ip, tc and iptables");
		return;
	}
	snprintf(ns, sizeof(ns), "fwo-%d", (int)getpid());
	snprintf(veth_h, sizeof(veth_h), "fwoh%d", (int)getpid() % 1000000);
	snprintf(veth_n, sizeof(veth_n), "fwon%d", (int)getpid() % 1000000);
	snprintf(net, sizeof(net), "10.214.%d", (int)getpid() % 250 + 1);
	if (sh("ip netns add %s && ip link add %s type veth peer name %s && "
	       "ip link set %s netns %s && ip addr add %s.1/24 dev %s && "
	       "ip link set %s up && ip -n %s addr add %s.2/24 dev %s && "
	       "ip -n %s link set %s up && ip -n %s link set lo up",
	       ns, veth_h, veth_n, veth_n, ns, net, veth_h, veth_h, ns, net, veth_n,
	       ns, veth_n, ns) != 0) {
		ok(1, "# SKIP cut link: cannot make a network namespace here");
		netns_cleanup();
		return;
	}
	snprintf(args, sizeof(args), "start_webdav_https_netns %s %s.2 8443 '%s' %s",
		 ns, net, path_in("nstore"), TOKEN);
	if (servers(args) != 0) {
		ok(0, "nginx started in netns %s", ns);
		netns_cleanup();
		return;
	}
	{
		char envf[800];

		snprintf(envf, sizeof(envf), "%s/webdav.%s/env", path_in("servers"), ns);
		snprintf(nurl, sizeof(nurl), "%s", env_of(envf, "WEBDAV_URL"));
		snprintf(nca, sizeof(nca), "%s", env_of(envf, "WEBDAV_CA"));
	}
	o.url = nurl;
	o.ca_file = nca;
	ho.ca_file = nca;
	fill(&data, 600 * 1024, 9);
	ret = offsite_put(&o, "chunks/ef/over-veth", data.buf, data.len);
	ok(ret == 0, "put over the veth to %s, certificate for the address (%s)",
	   nurl, ret ? error_message() : "");

	/* 2 Mbit/s towards the server: 600 KiB take about 2.5 s. */
	sh("tc qdisc add dev %s root tbf rate 2mbit burst 32kbit latency 400ms", veth_h);
	t0 = monoclock_now();
	ret = offsite_put(&o, "chunks/ef/slow", data.buf, data.len);
	dt = monoclock_now() - t0;
	ok(ret == 0 && dt > 1.5, "a slow upload that keeps moving succeeds "
	   "(%.1f s, %s)", dt, ret ? error_message() : "");

	/* Cut (packets to the server dropped, no reset) 0.7 s into it: the
	 * idle limit ends it long before the 60 s timeout. */
	strbuf_reset(&data);
	fill(&data, 600 * 1024, 10);
	sh("(sleep 0.7; ip netns exec %s iptables -w 5 -A INPUT -p tcp --dport 8443 "
	   "-j DROP) >/dev/null 2>&1 &", ns);
	ho.timeout_ms = 60000;
	ho.idle_ms = 2000;
	{
		char u[200];

		snprintf(u, sizeof(u), "%schunks/ef/cut", nurl);
		t0 = monoclock_now();
		ret = http_put(&r, u, data.buf, data.len, &ho);
		dt = monoclock_now() - t0;
	}
	ok(ret == FURROW_ETIMEOUT && dt < 8 && has(error_message(), "nothing received"),
	   "http_put: link cut mid-upload ends after the idle limit, not the "
	   "timeout (%.1f s): %s", dt, error_message());
	if (ret == 0)
		http_response_release(&r);
	ok(!exists(path_in("nstore/chunks/ef/cut")), "  nothing stored");

	/* Still cut: offsite_put fails within its timeout. */
	o.timeout_ms = 2000;
	t0 = monoclock_now();
	ret = offsite_put(&o, "chunks/ef/cut", data.buf, data.len);
	dt = monoclock_now() - t0;
	ok(ret == FURROW_ETIMEOUT && dt < 4, "offsite_put over a dead link: "
	   "ETIMEOUT within its timeout (%.1f s): %s", dt, error_message());

	/* Healed: the same put goes through. */
	sh("ip netns exec %s iptables -w 5 -F INPUT", ns);
	sh("tc qdisc del dev %s root", veth_h);
	o.timeout_ms = 10000;
	ret = offsite_put(&o, "chunks/ef/cut", data.buf, data.len);
	ok(ret == 0, "healed: the put goes through (%s)", ret ? error_message() : "");
	netns_cleanup();
	strbuf_release(&data);
}

static void cleanup(void)
{
	netns_cleanup();
	stop_servers();
}

int main(void)
{
	const char *src = getenv("SRC_DIR");

	snprintf(T, sizeof(T), "%s", tap_tmpdir());
	snprintf(servers_sh, sizeof(servers_sh), "%s/tests/servers.sh",
		 src && *src ? src : ".");
	if (servers_sh[0] != '/') {
		char cwd[512];

		if (getcwd(cwd, sizeof(cwd)))
			snprintf(servers_sh, sizeof(servers_sh), "%s/tests/servers.sh", cwd);
	}
	if (access(servers_sh, R_OK) != 0 ||
	    sh("command -v nginx openssl python3 >/dev/null") != 0) {
		printf("1..0 # SKIP needs tests/servers.sh, nginx, openssl, python3\n");
		return 0;
	}
	atexit(cleanup);
	snprintf(store, sizeof(store), "%s", path_in("store"));
	snprintf(token, sizeof(token), "%s", path_in("token"));
	snprintf(wrong_token, sizeof(wrong_token), "%s", path_in("wrong-token"));
	write_bytes(token, TOKEN "\n", strlen(TOKEN) + 1);
	write_bytes(wrong_token, WRONG "\n", strlen(WRONG) + 1);
	sh("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=other "
	   "-keyout '%s' -out '%s' 2>/dev/null", path_in("other-ca.key"),
	   path_in("other-ca.pem"));

	printf("# starting nginx (WebDAV over HTTPS)\n");
	{
		char args[1000];

		snprintf(args, sizeof(args), "start_webdav_https '%s' %s", store, TOKEN);
		if (servers(args) != 0) {
			ok(0, "nginx started");
			cleanup();
			return tap_done();
		}
	}
	snprintf(url, sizeof(url), "%s",
		 env_of(path_in("servers/webdav/env"), "WEBDAV_URL"));
	snprintf(ca, sizeof(ca), "%s",
		 env_of(path_in("servers/webdav/env"), "WEBDAV_CA"));
	ok(!strncmp(url, "https://localhost:", 18) && url[strlen(url) - 1] == '/' &&
	   access(ca, R_OK) == 0, "nginx started: %s, CA %s", url, ca);

	test_round_trip();
	test_errors();
	test_lying_server();
	test_http();
	test_cut_link();
	cleanup();
	return tap_done();
}
