/*
 * test_report_send.c - the report sender (core/report_send.c) and
 * http_post() (core/http.c) against a real HTTPS receiver: /usr/bin/python3
 * http.server with ssl, a CA and a server certificate made with openssl
 * in the scratch directory.  The receiver records every POST (headers
 * and body) in a file and answers as a script file says: 200, 500, 429
 * with Retry-After, 400, a redirect, or slowly.  A real outbox in a real
 * store is drained by sender_step() on the real clock, and by the
 * sender's thread.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "error.h"
#include "http.h"
#include "limits.h"
#include "log.h"
#include "outbox.h"
#include "report_send.h"
#include "store.h"
#include "strbuf.h"
#include "tap.h"
#include "banned.h"

#define PYTHON "/usr/bin/python3"
#define TOKEN "s3cret-TOKEN-42"
#define U 0.5 /* the backoff's "random" draw: each wait is half its ceiling */

/* --- the receiver ------------------------------------------------------- */

static const char receiver_py[] =
"import email.utils, http.server, os, socketserver, ssl, sys, threading, time\n"
"d, cert, key, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])\n"
"plain = len(sys.argv) > 5 and sys.argv[5] == 'plain'\n"
"lock = threading.Lock()\n"
"os.makedirs(os.path.join(d, 'req'), exist_ok=True)\n"
"def next_answer():\n"
"    path = os.path.join(d, 'script')\n"
"    try:\n"
"        with open(path) as f:\n"
"            lines = f.read().splitlines()\n"
"    except FileNotFoundError:\n"
"        lines = []\n"
"    if not lines:\n"
"        return '200'\n"
"    with open(path + '.tmp', 'w') as f:\n"
"        f.write(''.join(l + '\\n' for l in lines[1:]))\n"
"    os.rename(path + '.tmp', path)\n"
"    return lines[0]\n"
"def one_line(v):\n"
"    return (v or '-').replace('\\n', ' ')\n"
"class H(http.server.BaseHTTPRequestHandler):\n"
"    protocol_version = 'HTTP/1.1'\n"
"    def log_message(self, *a):\n"
"        pass\n"
"    def do_POST(self):\n"
"        n = int(self.headers.get('Content-Length', '0'))\n"
"        body = self.rfile.read(n).decode('utf-8', 'replace')\n"
"        with lock:\n"
"            answer = next_answer()\n"
"            count = len(os.listdir(os.path.join(d, 'req'))) + 1\n"
"            rec = os.path.join(d, 'req', '%04d' % count)\n"
"            with open(rec + '.tmp', 'w') as f:\n"
"                f.write('answer %s\\npath %s\\nidem %s\\nauth %s\\nctype %s\\nexpect %s\\nbody %s\\n' % (\n"
"                    answer, self.path, one_line(self.headers.get('Idempotency-Key')),\n"
"                    one_line(self.headers.get('Authorization')),\n"
"                    one_line(self.headers.get('Content-Type')),\n"
"                    one_line(self.headers.get('Expect')), one_line(body)))\n"
"            os.rename(rec + '.tmp', rec)\n"
"        words = answer.split()\n"
"        headers = []\n"
"        if words[0] == 'slow':\n"
"            time.sleep(float(words[1]))\n"
"            status, text = 200, 'ok\\n'\n"
"        else:\n"
"            status = int(words[0])\n"
"            text = {400: 'bad document: missing field\\nsecond line\\n'}.get(\n"
"                status, 'ok\\n' if status < 300 else 'status %d\\n' % status)\n"
"            if len(words) >= 3 and words[1] == '+date':\n"
"                headers.append(('Retry-After', email.utils.formatdate(\n"
"                    time.time() + float(words[2]), usegmt=True)))\n"
"            elif len(words) >= 2:\n"
"                headers.append(('Retry-After', answer.split(None, 1)[1]))\n"
"            if 300 <= status < 400:\n"
"                headers.append(('Location', '/elsewhere'))\n"
"        data = text.encode()\n"
"        try:\n"
"            self.send_response(status)\n"
"            for k, v in headers:\n"
"                self.send_header(k, v)\n"
"            self.send_header('Content-Type', 'text/plain')\n"
"            self.send_header('Content-Length', str(len(data)))\n"
"            self.send_header('Connection', 'close')\n"
"            self.end_headers()\n"
"            self.wfile.write(data)\n"
"        except OSError:\n"
"            pass\n"
"class S(socketserver.ThreadingMixIn, http.server.HTTPServer):\n"
"    daemon_threads = True\n"
"    allow_reuse_address = True\n"
"    def handle_error(self, request, client_address):\n"
"        pass\n"
"srv = S(('127.0.0.1', port), H)\n"
"if not plain:\n"
"    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
"    ctx.load_cert_chain(cert, key)\n"
"    srv.socket = ctx.wrap_socket(srv.socket, server_side=True,\n"
"                                 do_handshake_on_connect=False)\n"
"with open(os.path.join(d, 'port.tmp'), 'w') as f:\n"
"    f.write('%d\\n' % srv.server_address[1])\n"
"os.rename(os.path.join(d, 'port.tmp'), os.path.join(d, 'port'))\n"
"srv.serve_forever()\n";

struct receiver {
	char dir[512];   /* script, port, req/NNNN */
	pid_t pid;
	int port;
};

static const char *path_in(const char *name)
{
	static char bufs[8][600];
	static int next;
	char *b = bufs[next++ % 8];

	snprintf(b, sizeof(bufs[0]), "%s/%s", tap_tmpdir(), name);
	return b;
}

static int write_file(const char *path, const char *text)
{
	char tmp[700];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return -1;
	fputs(text, f);
	if (fclose(f) != 0)
		return -1;
	return rename(tmp, path);
}

static double mono(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
	struct timespec ts;

	if (s <= 0)
		return;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) != 0)
		;
}

/* Start the receiver in r->dir on port (0: any); 0 once it listens. */
static int receiver_start(struct receiver *r, int port, int plain)
{
	char portf[600], cert[600], key[600], portarg[16];
	struct strbuf sb = STRBUF_INIT;
	double until = mono() + 10;

	snprintf(portf, sizeof(portf), "%s/port", r->dir);
	snprintf(cert, sizeof(cert), "%s", path_in("tls/cert.pem"));
	snprintf(key, sizeof(key), "%s", path_in("tls/key.pem"));
	snprintf(portarg, sizeof(portarg), "%d", port);
	mkdir(r->dir, 0700);
	unlink(portf);
	r->pid = fork();
	if (r->pid == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(null, 0);
		dup2(null, 1);
		execl(PYTHON, PYTHON, path_in("receiver.py"), r->dir, cert, key,
		      portarg, plain ? "plain" : "tls", (char *)NULL);
		_exit(127);
	}
	while (mono() < until) {
		strbuf_reset(&sb);
		if (strbuf_read_file(&sb, portf, 64) == 0 && sb.len) {
			r->port = (int)strtol(sb.buf, NULL, 10);
			strbuf_release(&sb);
			return 0;
		}
		error_clear();
		if (waitpid(r->pid, NULL, WNOHANG) == r->pid)
			break;
		sleep_s(0.02);
	}
	strbuf_release(&sb);
	return -1;
}

static void receiver_stop(struct receiver *r)
{
	if (r->pid > 0) {
		kill(r->pid, SIGKILL);
		waitpid(r->pid, NULL, 0);
	}
	r->pid = -1;
}

static void script(struct receiver *r, const char *text)
{
	char p[600];

	snprintf(p, sizeof(p), "%s/script", r->dir);
	write_file(p, text);
}

/* Requests recorded so far. */
static int nreq(struct receiver *r)
{
	char p[700];
	int n = 0;

	for (;;) {
		snprintf(p, sizeof(p), "%s/req/%04d", r->dir, n + 1);
		if (access(p, F_OK) != 0)
			return n;
		n++;
	}
}

/* Field name of request i (from 1), "" if none; static buffer. */
static const char *req_field(struct receiver *r, int i, const char *name)
{
	static char out[4][4096];
	static int next;
	char *o = out[next++ % 4];
	struct strbuf sb = STRBUF_INIT;
	char p[700];
	size_t nl = strlen(name);
	char *line, *end;

	o[0] = '\0';
	snprintf(p, sizeof(p), "%s/req/%04d", r->dir, i);
	if (strbuf_read_file(&sb, p, 1 << 20)) {
		error_clear();
		return o;
	}
	for (line = sb.buf; *line; line = end + 1) {
		end = strchr(line, '\n');
		if (!end)
			end = line + strlen(line);
		if ((size_t)(end - line) > nl && !strncmp(line, name, nl) &&
		    line[nl] == ' ') {
			snprintf(o, sizeof(out[0]), "%.*s", (int)(end - line - nl - 1),
				 line + nl + 1);
			break;
		}
		if (!*end)
			break;
	}
	strbuf_release(&sb);
	return o;
}

/* --- fixtures ------------------------------------------------------------ */

static struct receiver rx;
static struct store *st;
static char instance[128];
static struct config cfg;
static char url[256];
static char ca_path[600], other_ca_path[600], token_path[600];

static double constant_uniform(void *arg)
{
	(void)arg;
	return U;
}

static struct sender *new_sender(void)
{
	struct sender *s = sender_new(&cfg);

	sender_set_uniform(s, constant_uniform, NULL);
	return s;
}

struct body_arg {
	const char *label;
};

static void make_body(struct strbuf *body, uint64_t seq, void *arg)
{
	struct body_arg *b = arg;

	strbuf_addf(body, "{\"seq\":%llu,\"label\":\"%s\"}",
		    (unsigned long long)seq, b->label);
}

static uint64_t enqueue(const char *label)
{
	struct body_arg b = { label };
	uint64_t seq = 0;

	if (outbox_add(st, NULL, OUTBOX_REPORT, NULL, 0, make_body, &b, &seq))
		tap_diag("outbox_add: %s", error_message());
	return seq;
}

static struct outbox_stats stats(void)
{
	struct outbox_stats o;

	memset(&o, 0, sizeof(o));
	if (outbox_stats(st, &o))
		tap_diag("outbox_stats: %s", error_message());
	return o;
}

static const char *key_of(uint64_t seq)
{
	static char bufs[4][160];
	static int next;
	char *b = bufs[next++ % 4];

	snprintf(b, sizeof(bufs[0]), "%s-%llu", instance, (unsigned long long)seq);
	return b;
}

/* Step until the outbox is empty or limit seconds passed, sleeping until
 * each *next.  Returns 1 if it emptied. */
static int drive(struct sender *s, double limit)
{
	double until = mono() + limit, next;
	int r;

	while (mono() < until) {
		r = sender_step(s, st, mono(), &next);
		if (r == SENDER_IDLE)
			return 1;
		if (r == SENDER_DELIVERED || r == SENDER_REJECTED)
			continue;
		sleep_s((next < until ? next : until) - mono());
	}
	return stats().depth == 0;
}

/* The log since offset (a file written by log_set_fd). */
static void log_since(struct strbuf *sb, size_t offset)
{
	struct strbuf all = STRBUF_INIT;

	strbuf_reset(sb);
	if (strbuf_read_file(&all, path_in("log"), 64u << 20) == 0 &&
	    all.len > offset)
		strbuf_add(sb, all.buf + offset, all.len - offset);
	error_clear();
	strbuf_release(&all);
}

static size_t log_size(void)
{
	struct stat sb;

	return stat(path_in("log"), &sb) == 0 ? (size_t)sb.st_size : 0;
}

static int count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* Every line of the log that has both a and b. */
static int count_lines(const char *log, const char *a, const char *b)
{
	int n = 0;
	const char *line = log, *end;

	while (*line) {
		char buf[LIMIT_LOG_LINE_BYTES + 1];
		size_t len;

		end = strchr(line, '\n');
		len = end ? (size_t)(end - line) : strlen(line);
		snprintf(buf, sizeof(buf), "%.*s", (int)len, line);
		if (strstr(buf, a) && strstr(buf, b))
			n++;
		if (!end)
			break;
		line = end + 1;
	}
	return n;
}

static char errors_seen[64 * 1024];

/* Keep every last_error for the token check at the end. */
static void keep_error(struct sender *s)
{
	struct sender_status ss;
	size_t n = strlen(errors_seen);

	sender_get_status(s, &ss);
	snprintf(errors_seen + n, sizeof(errors_seen) - n, "%s\n", ss.last_error);
}

static int setup(void)
{
	char cmd[4096];
	const char *t = path_in("tls");
	struct strbuf sb = STRBUF_INIT;

	mkdir(t, 0700);
	/* A CA, a certificate it signs for DNS:localhost (mbedTLS 2.28 does
	 * not match IP SANs), and an unrelated second CA. */
	snprintf(cmd, sizeof(cmd),
		 "(cd '%s' && "
		 "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=furrow-test-ca "
		 "-keyout ca.key -out ca.pem && "
		 "openssl req -newkey rsa:2048 -nodes -subj /CN=localhost "
		 "-keyout key.pem -out req.pem && "
		 "printf 'subjectAltName=DNS:localhost\\nbasicConstraints=CA:FALSE\\n' >ext.cnf && "
		 "openssl x509 -req -in req.pem -CA ca.pem -CAkey ca.key -CAcreateserial "
		 "-days 2 -extfile ext.cnf -out cert.pem && "
		 "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=other-ca "
		 "-keyout other.key -out other.pem) >'%s/openssl.log' 2>&1", t, t);
	if (system(cmd) != 0) {
		tap_diag("openssl failed: see %s/openssl.log", t);
		return -1;
	}
	if (write_file(path_in("receiver.py"), receiver_py) ||
	    write_file(path_in("token"), TOKEN "  \n\n"))
		return -1;
	snprintf(rx.dir, sizeof(rx.dir), "%s", path_in("rx"));
	if (receiver_start(&rx, 0, 0)) {
		tap_diag("the receiver did not start");
		return -1;
	}
	if (store_open(&st, path_in("state"), NULL)) {
		tap_diag("store_open: %s", error_message());
		return -1;
	}
	if (store_get_copy(st, "meta", "instance_id", 11, &sb) || !sb.len)
		return -1;
	snprintf(instance, sizeof(instance), "%s", sb.buf);
	strbuf_release(&sb);
	snprintf(url, sizeof(url), "https://localhost:%d/v1/furrow", rx.port);
	cfg.report.url = url;
	snprintf(ca_path, sizeof(ca_path), "%s", path_in("tls/ca.pem"));
	snprintf(other_ca_path, sizeof(other_ca_path), "%s", path_in("tls/other.pem"));
	snprintf(token_path, sizeof(token_path), "%s", path_in("token"));
	cfg.report.ca_file = ca_path;
	cfg.report.token_file = token_path;
	cfg.report.timeout = 2;
	return 0;
}

/* --- http_post() on its own ------------------------------------------------ */

static void test_http_post(void)
{
	struct receiver plain = { .pid = -1 };
	struct http_post_options o = { .timeout_ms = 5000, .max_body = 1024 };
	struct http_response r;
	struct strbuf big = STRBUF_INIT;
	char u[256], want[512];
	int ret;

	ret = http_post(&r, "http://example.net/x", "{}", 2, &o);
	is_int(ret, FURROW_EINVAL, "http_post: plain http:// to another host refused");
	ok(strstr(error_message(), "http://example.net/x: ") == error_message() &&
	   strstr(error_message(), "use https://"),
	   "http_post: the message starts with the URL: %s", error_message());
	ok(r.body == NULL, "http_post: out is empty after an error");
	ret = http_post(&r, "http://127.0.0.1.example.net/x", "{}", 2, &o);
	is_int(ret, FURROW_EINVAL, "http_post: a name that starts like loopback is not");
	ret = http_post(&r, "ftp://localhost/x", "{}", 2, &o);
	is_int(ret, FURROW_EINVAL, "http_post: ftp:// refused");
	ret = http_post(&r, "no url at all", "{}", 2, &o);
	is_int(ret, FURROW_EINVAL, "http_post: garbage refused");
	ok(strstr(error_message(), "no url at all: ") == error_message(),
	   "http_post: garbage message starts with the URL: %s", error_message());

	/* Plain http:// to this host: allowed, and where the headers are
	 * easy to look at. */
	snprintf(plain.dir, sizeof(plain.dir), "%s", path_in("plain"));
	if (receiver_start(&plain, 0, 1)) {
		ok(0, "http_post: the plain receiver started");
		return;
	}
	strbuf_addstr(&big, "{\"pad\":\"");
	while (big.len < 4000)
		strbuf_addch(&big, 'x');
	strbuf_addstr(&big, "\"}");
	o.idempotency_key = "abc-7";
	o.token_file = path_in("token");
	snprintf(u, sizeof(u), "http://127.0.0.1:%d/in", plain.port);
	script(&plain, "200\n429 120\n503 +date 30\n503 soon\n500\n");
	ret = http_post(&r, u, big.buf, big.len, &o);
	ok(ret == 0 && r.status == 200, "http_post: http://127.0.0.1 allowed (%d %ld %s)",
	   ret, r.status, ret ? error_message() : "");
	is_int(r.retry_after, -1, "http_post: no Retry-After is -1");
	is_str(r.body, "ok\n", "http_post: the answer body");
	http_response_release(&r);
	is_str(req_field(&plain, 1, "ctype"), "application/json", "http_post: Content-Type");
	is_str(req_field(&plain, 1, "idem"), "abc-7", "http_post: Idempotency-Key");
	is_str(req_field(&plain, 1, "auth"), "Bearer " TOKEN,
	       "http_post: bearer token, trailing whitespace trimmed");
	is_str(req_field(&plain, 1, "expect"), "-", "http_post: no Expect: 100-continue");
	ok(strlen(req_field(&plain, 1, "body")) == big.len, "http_post: the whole body arrived");

	ret = http_post(&r, u, "{}", 2, &o);
	ok(ret == 0 && r.status == 429 && r.retry_after == 120,
	   "http_post: Retry-After delta-seconds (%ld)", r.retry_after);
	http_response_release(&r);
	ret = http_post(&r, u, "{}", 2, &o);
	ok(ret == 0 && r.status == 503 && r.retry_after >= 28 && r.retry_after <= 31,
	   "http_post: Retry-After as an HTTP-date, relative to now (%ld)", r.retry_after);
	http_response_release(&r);
	ret = http_post(&r, u, "{}", 2, &o);
	ok(ret == 0 && r.status == 503 && r.retry_after == -1,
	   "http_post: unparsable Retry-After is -1 (%ld)", r.retry_after);
	http_response_release(&r);

	o.token_file = path_in("no-such-token");
	ret = http_post(&r, u, "{}", 2, &o);
	is_int(ret, FURROW_ENOENT, "http_post: missing token file");
	snprintf(want, sizeof(want), "%s: token file: ", u);
	ok(strstr(error_message(), want) == error_message(),
	   "http_post: token file message starts with the URL: %s", error_message());
	write_file(path_in("token2"), "first\nsecond\n");
	o.token_file = path_in("token2");
	ret = http_post(&r, u, "{}", 2, &o);
	is_int(ret, FURROW_EINVAL, "http_post: a two-line token is refused");
	ok(!strstr(error_message(), "first") && !strstr(error_message(), "second"),
	   "http_post: the token is not in the message: %s", error_message());
	o.token_file = NULL;
	o.idempotency_key = "k\r\nX-Injected: 1";
	ret = http_post(&r, u, "{}", 2, &o);
	is_int(ret, FURROW_EINVAL, "http_post: no header injection through the key");
	o.idempotency_key = "abc-7";
	is_int(nreq(&plain), 4, "http_post: nothing sent with a bad token file or key");

	receiver_stop(&plain);
	o.token_file = NULL;
	ret = http_post(&r, u, "{}", 2, &o);
	is_int(ret, FURROW_EIO, "http_post: receiver gone is FURROW_EIO");
	snprintf(want, sizeof(want), "%s: connection refused", u);
	is_str(error_message(), want, "http_post: refused message");
	strbuf_release(&big);
}

/* --- the sender ------------------------------------------------------------- */

static void test_in_order(void)
{
	struct sender *s = new_sender();
	struct sender_status ss;
	uint64_t seq[5];
	int base = nreq(&rx), i, good = 1;
	char want[128];

	script(&rx, "");
	for (i = 0; i < 5; i++) {
		snprintf(want, sizeof(want), "order-%d", i);
		seq[i] = enqueue(want);
	}
	ok(drive(s, 10), "order: the outbox drained");
	is_int(nreq(&rx) - base, 5, "order: five POSTs, one per item");
	for (i = 0; i < 5; i++) {
		snprintf(want, sizeof(want), "{\"seq\":%llu,\"label\":\"order-%d\"}",
			 (unsigned long long)seq[i], i);
		good &= !strcmp(req_field(&rx, base + 1 + i, "body"), want);
		good &= !strcmp(req_field(&rx, base + 1 + i, "idem"), key_of(seq[i]));
		good &= !strcmp(req_field(&rx, base + 1 + i, "path"), "/v1/furrow");
	}
	ok(good, "order: bodies in sequence order, each with Idempotency-Key <instance>-<seq>");
	is_str(req_field(&rx, base + 1, "auth"), "Bearer " TOKEN, "order: bearer token sent");
	is_str(req_field(&rx, base + 1, "ctype"), "application/json", "order: JSON");
	is_int(stats().depth, 0, "order: every item acknowledged");
	sender_get_status(s, &ss);
	ok(ss.delivered == 5 && ss.failing == 0 && ss.failures == 0,
	   "order: status counts 5 delivered, no failure");
	{
		double next = 0, now = mono();

		is_int(sender_step(s, st, now, &next), SENDER_IDLE, "order: then idle");
		ok(next - now > LIMIT_REPORT_IDLE_SECONDS - 1, "order: idle looks again in %.0f s",
		   next - now);
	}
	sender_free(s);
}

static void test_retry_500(void)
{
	struct sender *s = new_sender();
	size_t off = log_size();
	struct strbuf log = STRBUF_INIT;
	struct sender_status ss;
	double next = 0, t;
	uint64_t a, b;
	int base = nreq(&rx), r;

	script(&rx, "500\n503\n");
	a = enqueue("retry-a");
	b = enqueue("retry-b");
	t = mono();
	r = sender_step(s, st, t, &next);
	is_int(r, SENDER_RETRY, "500: retried, not dropped");
	ok(next - t >= U * 1 - 0.05 && next - t < U * 1 + 0.5,
	   "500: first wait is the first ceiling (1 s) times the draw: %.2f s", next - t);
	keep_error(s);
	sender_get_status(s, &ss);
	ok(!strncmp(ss.last_error, url, strlen(url)) &&
	   strstr(ss.last_error, "HTTP 500: status 500"),
	   "500: the error names the URL and the answer: %s", ss.last_error);
	is_int(sender_step(s, st, mono(), &next), SENDER_WAITING, "500: not again before the wait");
	is_int(nreq(&rx) - base, 1, "500: no POST while waiting");
	sleep_s(next - mono());
	t = mono();
	is_int(sender_step(s, st, t, &next), SENDER_RETRY, "503: retried");
	ok(next - t >= U * 2 - 0.05 && next - t < U * 2 + 0.5,
	   "503: the second wait doubled: %.2f s", next - t);
	keep_error(s);
	sleep_s(next - mono());
	is_int(sender_step(s, st, mono(), &next), SENDER_DELIVERED, "then 200: delivered");
	is_int(sender_step(s, st, mono(), &next), SENDER_DELIVERED,
	       "the next item goes at once");
	ok(nreq(&rx) - base == 4 &&
	   !strcmp(req_field(&rx, base + 1, "idem"), key_of(a)) &&
	   !strcmp(req_field(&rx, base + 2, "idem"), key_of(a)) &&
	   !strcmp(req_field(&rx, base + 3, "idem"), key_of(a)) &&
	   !strcmp(req_field(&rx, base + 4, "idem"), key_of(b)),
	   "500: the head item blocked the next, every attempt with the same key");
	log_since(&log, off);
	is_int(count_lines(log.buf, "level=warn", "event=report.send_failed"), 2,
	       "log: one warning per kind of failure (500, 503)");
	is_int(count(log.buf, "event=report.send_recovered"), 1, "log: recovery logged once");
	sender_free(s);

	/* The same failure again and again is one warning. */
	s = new_sender();
	off = log_size();
	script(&rx, "500\n500\n500\n500\n");
	enqueue("storm");
	ok(drive(s, 15), "500 x4: delivered in the end");
	log_since(&log, off);
	is_int(count_lines(log.buf, "level=warn", "event=report.send_failed"), 1,
	       "log: four 500s in a row are one warning");
	sender_get_status(s, &ss);
	ok(ss.failures == 4 && ss.delivered == 1 && ss.failing == 0 && !ss.last_error[0],
	   "status: 4 failures, 1 delivered, healthy again");
	sender_free(s);
	strbuf_release(&log);
}

static void test_retry_after(void)
{
	struct sender *s = new_sender();
	double next = 0, t;
	int base = nreq(&rx);

	script(&rx, "429 2\n");
	enqueue("ra");
	t = mono();
	is_int(sender_step(s, st, t, &next), SENDER_RETRY, "429: retried");
	ok(next - t >= 2.0 - 0.01 && next - t < 2.6,
	   "429: Retry-After: 2 honoured over the shorter backoff: %.2f s", next - t);
	keep_error(s);
	sleep_s(1.0);
	is_int(sender_step(s, st, mono(), &next), SENDER_WAITING, "429: waiting after 1 s");
	is_int(nreq(&rx) - base, 1, "429: no POST within Retry-After");
	sleep_s(next - mono());
	is_int(sender_step(s, st, mono(), &next), SENDER_DELIVERED, "429: delivered after 2 s");
	sender_free(s);

	/* An HTTP-date. */
	s = new_sender();
	script(&rx, "503 +date 3\n");
	enqueue("ra-date");
	t = mono();
	is_int(sender_step(s, st, t, &next), SENDER_RETRY, "503 with a date: retried");
	ok(next - t >= 1.5 && next - t < 3.6,
	   "503: Retry-After as an HTTP-date 3 s ahead: %.2f s", next - t);
	sleep_s(next - mono());
	is_int(sender_step(s, st, mono(), &next), SENDER_DELIVERED, "503 with a date: delivered");
	sender_free(s);

	/* A Retry-After of a day is capped at an hour; this sender is
	 * dropped with its backoff, the item stays for the next. */
	s = new_sender();
	script(&rx, "503 86400\n");
	enqueue("ra-cap");
	t = mono();
	is_int(sender_step(s, st, t, &next), SENDER_RETRY, "Retry-After 86400: retried");
	ok(next - t >= LIMIT_REPORT_RETRY_AFTER - 1 && next - t < LIMIT_REPORT_RETRY_AFTER + 5,
	   "Retry-After capped at LIMIT_REPORT_RETRY_AFTER: %.0f s", next - t);
	sender_free(s);
	s = new_sender();
	ok(drive(s, 10), "a new sender delivers it");
	sender_free(s);
}

static void test_dead_letter(void)
{
	struct sender *s = new_sender();
	struct outbox_stats before = stats(), after;
	size_t off = log_size();
	struct strbuf log = STRBUF_INIT, dl = STRBUF_INIT;
	double next = 0;
	uint64_t bad, good;
	int base = nreq(&rx);
	unsigned char key[8];

	script(&rx, "400\n");
	bad = enqueue("dead");
	good = enqueue("after-dead");
	is_int(sender_step(s, st, mono(), &next), SENDER_REJECTED, "400: dead-lettered");
	after = stats();
	is_int(after.dead - before.dead, 1, "400: counted as a dead letter");
	is_int(sender_step(s, st, mono(), &next), SENDER_DELIVERED,
	       "400: the next item is delivered right away");
	ok(nreq(&rx) - base == 2 &&
	   !strcmp(req_field(&rx, base + 1, "idem"), key_of(bad)) &&
	   !strcmp(req_field(&rx, base + 2, "idem"), key_of(good)),
	   "400: one try only, then the next item");
	for (int i = 7, k = 0; i >= 0; i--, k++)
		key[i] = (unsigned char)((bad >> (8 * k)) & 0xff);
	ok(store_get_copy(st, "deadletter", key, 8, &dl) == 0 &&
	   memmem(dl.buf, dl.len, "HTTP 400: bad document: missing field", 37) &&
	   !memmem(dl.buf, dl.len, "second line", 11),
	   "400: the dead letter says \"HTTP 400: <first line of the answer>\"");
	log_since(&log, off);
	is_int(count_lines(log.buf, "level=error", "event=report.rejected"), 1,
	       "400: logged as an error");
	ok(strstr(log.buf, "HTTP 400: bad document: missing field") != NULL,
	   "400: the log has the reason");
	sender_free(s);
	strbuf_release(&log);
	strbuf_release(&dl);
}

static void test_redirect(void)
{
	struct sender *s = new_sender();
	struct sender_status ss;
	double next = 0;
	int base = nreq(&rx);

	script(&rx, "302\n");
	enqueue("redirect");
	is_int(sender_step(s, st, mono(), &next), SENDER_RETRY,
	       "302: not followed, not dead-lettered: retried");
	sender_get_status(s, &ss);
	ok(strstr(ss.last_error, "HTTP 302") && strstr(ss.last_error, "not followed"),
	   "302: the error says so: %s", ss.last_error);
	keep_error(s);
	ok(drive(s, 10), "302: delivered on the next try");
	is_int(nreq(&rx) - base, 2, "302: two POSTs to the same URL, no redirect followed");
	is_str(req_field(&rx, base + 2, "path"), "/v1/furrow", "302: /elsewhere never asked");
	sender_free(s);
}

static void test_wrong_ca(void)
{
	struct sender *s;
	struct sender_status ss;
	struct outbox_stats before;
	double next = 0;
	int base = nreq(&rx);

	cfg.report.ca_file = other_ca_path;
	s = new_sender();
	cfg.report.ca_file = ca_path;
	enqueue("wrong-ca");
	before = stats();
	is_int(sender_step(s, st, mono(), &next), SENDER_RETRY, "wrong CA: retried");
	is_int(sender_step(s, st, next, &next), SENDER_RETRY, "wrong CA: again");
	sender_get_status(s, &ss);
	keep_error(s);
	ok(!strncmp(ss.last_error, url, strlen(url)) && strcasestr(ss.last_error, "cert"),
	   "wrong CA: a certificate error naming the URL: %s", ss.last_error);
	is_int(stats().dead, before.dead, "wrong CA: nothing dead-lettered");
	is_int(stats().depth, before.depth, "wrong CA: the item is kept");
	is_int(nreq(&rx) - base, 0, "wrong CA: no request got through");
	sender_free(s);

	/* The system bundle does not know the test CA either. */
	cfg.report.ca_file = NULL;
	s = new_sender();
	cfg.report.ca_file = ca_path;
	is_int(sender_step(s, st, mono(), &next), SENDER_RETRY, "system bundle: retried");
	keep_error(s);
	sender_free(s);

	s = new_sender();
	ok(drive(s, 10), "right CA: delivered");
	sender_free(s);
}

static void test_slow(void)
{
	struct sender *s;
	struct sender_status ss;
	double next = 0, t, took;
	char want[300];
	int base = nreq(&rx);
	uint64_t seq;

	cfg.report.timeout = 1;
	s = new_sender();
	cfg.report.timeout = 2;
	script(&rx, "slow 3\n");
	seq = enqueue("slow");
	t = mono();
	is_int(sender_step(s, st, t, &next), SENDER_RETRY, "slow: timed out, retried");
	took = mono() - t;
	ok(took >= 0.9 && took < 2.0, "slow: gave up after report.timeout (%.2f s)", took);
	ok(next - (t + took) >= U - 0.1, "slow: the wait counts from the end of the attempt");
	sender_get_status(s, &ss);
	snprintf(want, sizeof(want), "%s: no answer within 1000 ms", url);
	is_str(ss.last_error, want, "slow: timeout message");
	keep_error(s);
	ok(drive(s, 10), "slow: delivered on the next try");
	ok(nreq(&rx) - base == 2 &&
	   !strcmp(req_field(&rx, base + 1, "idem"), key_of(seq)) &&
	   !strcmp(req_field(&rx, base + 2, "idem"), key_of(seq)),
	   "slow: the receiver saw it twice, with the same key (at least once)");
	sender_free(s);
}

static void test_down(void)
{
	struct sender *s = new_sender();
	struct strbuf log = STRBUF_INIT;
	uint64_t seqs[6];
	size_t off = log_size();
	int base, i, n, good = 1, port = rx.port, k = 0;
	double until;

	script(&rx, "");
	receiver_stop(&rx);
	base = nreq(&rx);
	for (i = 0; i < 6; i++)
		seqs[i] = enqueue("down");
	until = mono() + 2.5;
	while (mono() < until) {
		double next;
		int r = sender_step(s, st, mono(), &next);

		good &= r == SENDER_RETRY || r == SENDER_WAITING;
		sleep_s((next < until ? next : until) - mono());
	}
	keep_error(s);
	ok(good, "down: every attempt failed and was kept");
	is_int(stats().depth, 6, "down: all six waiting");
	ok(receiver_start(&rx, port, 0) == 0, "down: the receiver is back on port %d", port);
	ok(drive(s, 20), "down: everything delivered afterwards");
	n = nreq(&rx) - base;
	is_int(n, 6, "down: six POSTs, one per item");
	for (i = 0; i < n && i < 6; i++) {
		good &= !strcmp(req_field(&rx, base + 1 + i, "idem"), key_of(seqs[i]));
		good &= seqs[i] == seqs[0] + (uint64_t)i;
		k++;
	}
	ok(good && k == 6, "down: in order, no sequence gaps");
	log_since(&log, off);
	is_int(count_lines(log.buf, "level=warn", "event=report.send_failed"), 1,
	       "down: one warning for the whole outage");
	ok(count_lines(log.buf, "event=report.send_failed", "connection refused") == 1,
	   "down: it says connection refused");
	is_int(count(log.buf, "event=report.send_recovered"), 1, "down: one recovery line");
	sender_free(s);
	strbuf_release(&log);
}

static void test_thread(void)
{
	struct sender *s = new_sender();
	volatile sig_atomic_t stop = 0;
	size_t off;
	struct strbuf log = STRBUF_INIT;
	double t, until;
	int base = nreq(&rx);

	script(&rx, "");
	is_int(sender_start(s, st, &stop), 0, "thread: started");
	is_int(sender_start(s, st, &stop), FURROW_ERR, "thread: only one");
	sleep_s(0.3); /* idle: it looked once and sleeps for a minute */
	t = mono();
	enqueue("thread-1");
	enqueue("thread-2");
	enqueue("thread-3");
	sender_kick(s);
	until = t + 5;
	while (stats().depth && mono() < until)
		sleep_s(0.02);
	/* Without the kick it would sleep LIMIT_REPORT_IDLE_SECONDS. */
	ok(stats().depth == 0 && mono() - t < 5,
	   "thread: a kick wakes the idle sender (%.2f s for three)", mono() - t);
	is_int(nreq(&rx) - base, 3, "thread: three POSTs");

	/* Stop while a POST hangs: abandoned within about a second. */
	off = log_size();
	script(&rx, "slow 20\n");
	enqueue("thread-stop");
	sender_kick(s);
	until = mono() + 5;
	while (nreq(&rx) - base < 4 && mono() < until)
		sleep_s(0.02);
	t = mono();
	stop = 1;
	sender_join(s);
	ok(mono() - t < 2.0, "thread: *stop ends a hanging POST (%.2f s)", mono() - t);
	is_int(stats().depth, 1, "thread: the item stays for the next furrow");
	log_since(&log, off);
	is_int(count(log.buf, "report.send_failed"), 0, "thread: no failure logged on the way out");
	sender_join(s); /* a second join is nothing */

	/* sender_free() stops a running thread itself. */
	stop = 0;
	script(&rx, "");
	is_int(sender_start(s, st, &stop), 0, "thread: starts again");
	until = mono() + 5;
	while (stats().depth && mono() < until)
		sleep_s(0.02);
	is_int(stats().depth, 0, "thread: the leftover item delivered at start");
	t = mono();
	sender_free(s);
	ok(mono() - t < 2.0, "thread: sender_free joins an idle thread promptly (%.2f s)",
	   mono() - t);
	strbuf_release(&log);
}

static void test_token_secret(void)
{
	struct strbuf log = STRBUF_INIT;
	int i, n = nreq(&rx), good = 1;

	for (i = 1; i <= n; i++)
		good &= !strcmp(req_field(&rx, i, "auth"), "Bearer " TOKEN);
	ok(good && n > 0, "token: every one of %d POSTs carried the bearer token", n);
	log_since(&log, 0);
	ok(log.len > 0 && !strstr(log.buf, TOKEN), "token: never in the log (%zu bytes)", log.len);
	ok(!strstr(errors_seen, TOKEN) && strlen(errors_seen) > 0,
	   "token: never in an error message");
	strbuf_release(&log);
}

int main(void)
{
	int fd;

	signal(SIGPIPE, SIG_IGN);
	/* A proxy from the environment would break every request here. */
	setenv("https_proxy", "http://127.0.0.1:9", 1);
	setenv("HTTPS_PROXY", "http://127.0.0.1:9", 1);
	setenv("http_proxy", "http://127.0.0.1:9", 1);
	setenv("ALL_PROXY", "http://127.0.0.1:9", 1);
	if (access(PYTHON, X_OK) != 0 || system("openssl version >/dev/null 2>&1") != 0) {
		printf("1..0 # SKIP needs %s and openssl\n", PYTHON);
		return 0;
	}
	fd = open(path_in("log"), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	log_setup(LOG_FORMAT_LOGFMT, LOG_INFO);
	log_set_fd(fd);
	rx.pid = -1;
	if (setup()) {
		ok(0, "setup: CA, certificates, receiver, store");
		receiver_stop(&rx);
		store_free(st);
		return tap_done();
	}
	test_http_post();
	test_in_order();
	test_retry_500();
	test_retry_after();
	test_dead_letter();
	test_redirect();
	test_wrong_ca();
	test_slow();
	test_down();
	test_thread();
	test_token_secret();
	receiver_stop(&rx);
	store_free(st);
	log_set_fd(2);
	close(fd);
	return tap_done();
}
