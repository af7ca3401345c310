/*
 * test_engine_api.c - the container engine client (core/engine_api.c)
 * and http_unix() (core/http.c) against a fake engine: a thread in this
 * process that serves canned answers on a unix socket in the scratch
 * directory, one connection per answer, and records each request (its
 * request line and body).  Good answers as Podman 4.3 gives them, and
 * hostile ones: wrong types, bad ids, malformed and oversized JSON, a
 * failed pull reported inside a 200 stream, a stalled pull, a missing
 * socket.  The real engine is exercised by tests/t0040-container.sh.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "engine_api.h"
#include "error.h"
#include "http.h"
#include "json.h"
#include "limits.h"
#include "strbuf.h"
#include "value.h"
#include "tap.h"
#include "banned.h"

#define ID_A "7d223d6ccf36b779177cc7c06d40f5c3916004653fe03638fe1236e67280df8e"
#define ID_E "d35abad91852e67d7f890369aa695733b249731471ef6006686822b1fe669914"

/* --- the fake engine ------------------------------------------------------ */

struct answer {
	const char *status;      /* "200 OK" */
	const char *body;        /* NULL: body_buf */
	char *body_buf;
	size_t body_len;         /* for body_buf */
	int close_delimited;     /* no Content-Length: the body ends at close */
	int stall_ms;            /* after the body, hold the connection */
};

#define MAX_ANSWERS 4

static struct {
	char path[108];
	int fd;
	struct answer answers[MAX_ANSWERS];
	size_t count;
	pthread_t thread;
	struct strbuf request[MAX_ANSWERS]; /* "METHOD PATH" */
	struct strbuf body[MAX_ANSWERS];
} fake;

static void send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w <= 0)
			return;   /* the client went away: fine */
		p += w;
		n -= (size_t)w;
	}
}

/* Read one request: its request line and body. */
static void read_request(int fd, struct strbuf *line, struct strbuf *body)
{
	struct strbuf in = STRBUF_INIT;
	char buf[4096], *end, *cl;
	size_t want = 0, head;
	ssize_t n;

	while (!(end = strstr(in.buf, "\r\n\r\n"))) {
		n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			goto out;
		strbuf_add(&in, buf, (size_t)n);
	}
	head = (size_t)(end - in.buf) + 4;
	strbuf_add(line, in.buf, strcspn(in.buf, "\r"));
	/* "GET /path HTTP/1.1" -> "GET /path" */
	if ((end = strrchr(line->buf, ' ')))
		strbuf_setlen(line, (size_t)(end - line->buf));
	if ((cl = strcasestr(in.buf, "\r\nContent-Length:")) && cl < in.buf + head)
		want = strtoul(cl + 17, NULL, 10);
	while (in.len - head < want) {
		n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		strbuf_add(&in, buf, (size_t)n);
	}
	strbuf_add(body, in.buf + head, in.len - head);
out:
	strbuf_release(&in);
}

static void *serve(void *arg)
{
	(void)arg;
	for (size_t i = 0; i < fake.count; i++) {
		const struct answer *a = &fake.answers[i];
		const char *b = a->body ? a->body : a->body_buf;
		size_t blen = a->body ? strlen(a->body) : a->body_len;
		struct strbuf head = STRBUF_INIT;
		int c = accept(fake.fd, NULL, NULL);

		if (c < 0)
			break;
		read_request(c, &fake.request[i], &fake.body[i]);
		strbuf_addf(&head, "HTTP/1.1 %s\r\nContent-Type: application/json\r\n",
			    a->status);
		if (!a->close_delimited)
			strbuf_addf(&head, "Content-Length: %zu\r\n", blen);
		strbuf_addstr(&head, "Connection: close\r\n\r\n");
		send_all(c, head.buf, head.len);
		send_all(c, b, blen);
		if (a->stall_ms) {
			struct timespec ts = { a->stall_ms / 1000,
					       (a->stall_ms % 1000) * 1000000L };

			nanosleep(&ts, NULL);
		}
		close(c);
		strbuf_release(&head);
	}
	return NULL;
}

/* Serve the answers queued with answer(), one connection each. */
static void fake_start(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	for (size_t i = 0; i < MAX_ANSWERS; i++) {
		strbuf_release(&fake.request[i]);
		strbuf_release(&fake.body[i]);
	}
	snprintf(fake.path, sizeof(fake.path), "%s/engine.sock", tap_tmpdir());
	unlink(fake.path);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", fake.path);
	fake.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fake.fd < 0 || bind(fake.fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fake.fd, 8) < 0) {
		perror("fake engine");
		exit(99);
	}
	if (pthread_create(&fake.thread, NULL, serve, NULL)) {
		perror("pthread_create");
		exit(99);
	}
}

static void fake_stop(void)
{
	shutdown(fake.fd, SHUT_RDWR);
	pthread_join(fake.thread, NULL);
	close(fake.fd);
	for (size_t i = 0; i < fake.count; i++)
		free(fake.answers[i].body_buf);
	memset(fake.answers, 0, sizeof(fake.answers));
	fake.count = 0;
}

static struct answer *answer(const char *status, const char *body)
{
	struct answer *a = &fake.answers[fake.count++];

	memset(a, 0, sizeof(*a));
	a->status = status;
	a->body = body;
	return a;
}

/* --- checks --------------------------------------------------------------- */

static int has(const char *s, const char *part)
{
	return strstr(s, part) != NULL;
}

static void test_http_unix(void)
{
	struct http_unix_request u = { .socket = "/nonexistent/furrow/engine.sock",
		.method = "GET", .path = "/v1.41/_ping", .timeout_ms = 2000,
		.max_body = 64 };
	struct http_response r;
	int ret;

	ret = http_unix(&r, &u);
	is_int(ret, FURROW_EIO, "http_unix: a missing socket is FURROW_EIO");
	ok(has(error_message(), "/nonexistent/furrow/engine.sock: GET /v1.41/_ping: "),
	   "the message names socket, method and path: %s", error_message());
	u.method = "get";
	is_int(http_unix(&r, &u), FURROW_EINVAL, "a method is upper case");
	u.method = "GET";
	u.path = "/a b";
	is_int(http_unix(&r, &u), FURROW_EINVAL, "a path has no space");
	u.path = "x";
	is_int(http_unix(&r, &u), FURROW_EINVAL, "a path starts with /");

	/* Overflow modes. */
	answer("200 OK", "0123456789abcdef");
	fake_start();
	u.socket = fake.path;
	u.path = "/v1.41/x";
	u.max_body = 4;
	u.overflow = HTTP_OVERFLOW_TAIL;
	ret = http_unix(&r, &u);
	fake_stop();
	is_int(ret, 0, "tail: answered");
	is_str(r.body, "cdef", "tail: the last max_body bytes are kept");
	ok(r.truncated, "tail: truncated is set");
	http_response_release(&r);

	answer("200 OK", "0123456789abcdef");
	fake_start();
	u.overflow = HTTP_OVERFLOW_HEAD;
	ret = http_unix(&r, &u);
	fake_stop();
	is_int(ret, 0, "head: answered");
	is_str(r.body, "0123", "head: the first max_body bytes are kept");
	http_response_release(&r);
}

static void test_ping(void)
{
	int ret;

	answer("200 OK", "OK");
	fake_start();
	ret = engine_ping(fake.path);
	fake_stop();
	is_int(ret, 0, "ping: OK");
	is_str(fake.request[0].buf, "GET /v1.41/_ping", "ping: the request");

	ret = engine_ping("/nonexistent/furrow/engine.sock");
	is_int(ret, FURROW_EIO, "ping: engine down is FURROW_EIO");
	ok(has(error_message(), "container engine at /nonexistent/furrow/engine.sock "
	       "is not answering: GET /v1.41/_ping: no such file or directory"),
	   "ping: says the engine is not answering: %s", error_message());

	answer("500 Internal Server Error", "{\"cause\":\"x\",\"message\":\"boom\\nsecond\",\"response\":500}");
	fake_start();
	ret = engine_ping(fake.path);
	fake_stop();
	is_int(ret, FURROW_EIO, "ping: 500 is FURROW_EIO");
	ok(has(error_message(), "status 500: boom?second"),
	   "ping: the engine's message, control characters replaced: %s",
	   error_message());
}

static const char inspect_json[] =
	"{\"Id\":\"" ID_A "\",\"Created\":\"2026-11-27T06:43:50Z\",\"Name\":\"/web-a\","
	"\"State\":{\"Status\":\"exited\",\"Running\":false,\"ExitCode\":137,"
	"\"StartedAt\":\"2026-11-27T06:43:50.351168546Z\"},"
	"\"Config\":{\"Image\":\"r/x@sha256:00\",\"Labels\":{\"furrow.app\":\"web\","
	"\"furrow.slot\":\"a\"},\"Env\":[\"A=b\"]},\"HostConfig\":{\"Memory\":0},"
	"\"NewField\":[1,2,{\"x\":null}]}";

/* Inspect with the body given; returns the code. */
static int inspect_with(const char *status, const char *body,
			struct engine_container **e)
{
	int ret;

	answer(status, body);
	fake_start();
	ret = engine_container_inspect(e, fake.path, "web-a");
	fake_stop();
	return ret;
}

static void test_inspect(void)
{
	struct engine_container *e = NULL;
	struct strbuf big = STRBUF_INIT;
	struct answer *a;
	int ret;

	ret = inspect_with("200 OK", inspect_json, &e);
	is_int(ret, 0, "inspect: parsed");
	is_str(fake.request[0].buf, "GET /v1.41/containers/web-a/json",
	       "inspect: the request");
	if (e) {
		is_str(e->id, ID_A, "inspect: id");
		is_str(e->name, "web-a", "inspect: name without the /");
		is_int(e->running, 0, "inspect: not running");
		is_str(e->state, "exited", "inspect: state");
		is_int(e->exit_code, 137, "inspect: exit code");
		is_str(e->started_at, "2026-11-27T06:43:50.351168546Z", "inspect: started");
		is_str(engine_container_label(e, "furrow.app"), "web", "inspect: label");
		ok(!engine_container_label(e, "furrow.commit"), "inspect: no such label");
	}
	engine_container_free(e);

	ret = inspect_with("200 OK", "{\"Id\":\"" ID_A "\",\"Name\":\"x\","
			   "\"State\":{\"Running\":true},\"Config\":{\"Labels\":null}}", &e);
	is_int(ret, 0, "inspect: null labels");
	ok(e && e->running && e->labels && !engine_container_label(e, "a"),
	   "inspect: running, no labels");
	engine_container_free(e);

	ret = inspect_with("404 Not Found", "{\"cause\":\"no such container\",\"message\":"
			   "\"no container with name or ID \\\"web-a\\\" found: no such "
			   "container\",\"response\":404}", &e);
	is_int(ret, FURROW_ENOENT, "inspect: 404 is FURROW_ENOENT");
	ok(!e && has(error_message(), "status 404: no container with name"),
	   "inspect: the engine's message: %s", error_message());

	/* Hostile answers. */
	ret = inspect_with("200 OK", "{\"Id\":\"../../etc\",\"Name\":\"/x\","
			   "\"State\":{\"Running\":true}}", &e);
	is_int(ret, FURROW_ESYNTAX, "inspect: an id that is not 64 hex");
	ok(has(error_message(), "Id is not 64 hex digits"), "  says so: %s",
	   error_message());
	ret = inspect_with("200 OK", "{\"Id\":\"" ID_A "\",\"Name\":\"/x\","
			   "\"State\":{\"Running\":\"yes\"}}", &e);
	is_int(ret, FURROW_ESYNTAX, "inspect: Running a string");
	ret = inspect_with("200 OK", "{\"Id\":\"" ID_A "\",\"Name\":\"/x\","
			   "\"State\":{\"Running\":true},\"Config\":{\"Labels\":"
			   "{\"furrow.app\":7}}}", &e);
	is_int(ret, FURROW_ESYNTAX, "inspect: a label that is not a string");
	ret = inspect_with("200 OK", "{\"Id\":\"" ID_A "\",\"State\":{\"Running\":true}}", &e);
	is_int(ret, FURROW_ESYNTAX, "inspect: no Name");
	ret = inspect_with("200 OK", "[1,2,3]", &e);
	is_int(ret, FURROW_ESYNTAX, "inspect: not an object");
	ret = inspect_with("200 OK", "{\"Id\":", &e);
	is_int(ret, FURROW_ESYNTAX, "inspect: malformed JSON");
	ret = inspect_with("200 OK", "{\"Id\":\"" ID_A "\",\"Id\":\"" ID_A "\"}", &e);
	is_int(ret, FURROW_ESYNTAX, "inspect: a duplicate key");
	strbuf_addstr(&big, "{\"Id\":\"" ID_A "\",\"Name\":\"/");
	for (int i = 0; i < 300; i++)
		strbuf_addch(&big, 'n');
	strbuf_addstr(&big, "\",\"State\":{\"Running\":true}}");
	ret = inspect_with("200 OK", big.buf, &e);
	is_int(ret, FURROW_ESYNTAX, "inspect: a name over ENGINE_NAME_BYTES");
	strbuf_reset(&big);
	strbuf_addstr(&big, "{\"pad\":\"");
	while (big.len < LIMIT_ENGINE_RESPONSE_BYTES + 10)
		strbuf_addstr(&big, "xxxxxxxxxxxxxxxx");
	strbuf_addstr(&big, "\"}");
	a = answer("200 OK", NULL);
	a->body_buf = strbuf_detach(&big, &a->body_len);
	fake_start();
	ret = engine_container_inspect(&e, fake.path, "web-a");
	fake_stop();
	is_int(ret, FURROW_ELIMIT, "inspect: an answer over the cap");
	ok(has(error_message(), "longer than"), "  says so: %s", error_message());
	strbuf_reset(&big);
	strbuf_addstr(&big, "{\"Id\":\"" ID_A "\",\"Name\":\"/x\",\"State\":{\"Running\":true},\"d\":");
	for (int i = 0; i < 40; i++)
		strbuf_addch(&big, '[');
	for (int i = 0; i < 40; i++)
		strbuf_addch(&big, ']');
	strbuf_addch(&big, '}');
	ret = inspect_with("200 OK", big.buf, &e);
	is_int(ret, FURROW_ELIMIT, "inspect: nested too deep");
	strbuf_release(&big);
}

static void test_create(void)
{
	static char *cmd[] = { (char *)"httpd", (char *)"-f", (char *)"-p",
			       (char *)"80", NULL };
	struct appspec_pair labels[] = { { (char *)"furrow.app", (char *)"web" } };
	struct appspec_pair env[] = { { (char *)"A", (char *)"b\"c" } };
	struct appspec_port ports[] = { { (char *)"127.0.0.1", 8080, 80, 0 },
					{ NULL, 8081, 80, 0 },
					{ (char *)"::1", 5353, 53, 1 } };
	struct engine_mount mounts[] = { { "/var/lib/furrow/apps/web/data/d",
					   "/data:x", 1 } };
	struct engine_create c = {
		.name = "web-a", .image = "127.0.0.1:5000/edge/web@sha256:00",
		.labels = labels, .label_count = 1, .cmd = cmd, .env = env,
		.env_count = 1, .user = "1000", .ports = ports, .port_count = 3,
		.mounts = mounts, .mount_count = 1, .memory = 67108864, .cpus = 0.5,
		.pids = 64, .nofile = 1024, .read_only = 1, .privileged = 0,
		.network = "bridge",
	};
	struct strbuf b1 = STRBUF_INIT, b2 = STRBUF_INIT;
	struct value *v = NULL;
	const struct value *hc, *pb, *x;
	char id[65] = "";
	int ret;

	engine_create_body(&b1, &c, 0);
	engine_create_body(&b2, &c, 0);
	is_str(b1.buf, b2.buf, "create body: deterministic");
	ok(!has(b1.buf, "Labels"), "create body: labels left out on request");
	strbuf_reset(&b2);
	engine_create_body(&b2, &c, 1);
	ok(has(b2.buf, "\"Labels\":{\"furrow.app\":\"web\"}"), "create body: labels");

	answer("201 Created", "{\"Id\":\"" ID_A "\",\"Warnings\":[]}");
	fake_start();
	ret = engine_container_create(fake.path, &c, id);
	fake_stop();
	is_int(ret, 0, "create: created");
	is_str(id, ID_A, "create: the id");
	is_str(fake.request[0].buf, "POST /v1.41/containers/create?name=web-a",
	       "create: the request");
	is_str(fake.body[0].buf, b2.buf, "create: the body sent");
	ret = json_parse(&v, "body", fake.body[0].buf, fake.body[0].len, 1 << 20);
	is_int(ret, 0, "create: the body is JSON");
	hc = value_get(v, "HostConfig");
	pb = value_get(hc, "PortBindings");
	x = value_get(pb, "80/tcp");
	ok(x && x->type == VALUE_TABLE && x->u.table.count == 2,
	   "create: two bindings of 80/tcp, grouped");
	ok(value_get(pb, "53/udp") != NULL, "create: 53/udp");
	x = value_get(hc, "NanoCpus");
	ok(x && x->type == VALUE_INTEGER && x->u.integer == 500000000, "create: NanoCpus");
	x = value_get(hc, "ReadonlyRootfs");
	ok(x && x->type == VALUE_BOOLEAN && x->u.boolean, "create: ReadonlyRootfs");
	x = value_get(hc, "Privileged");
	ok(x && x->type == VALUE_BOOLEAN && !x->u.boolean, "create: not privileged");
	ok(has(fake.body[0].buf, "\"Env\":[\"A=b\\\"c\"]"), "create: env escaped");
	ok(has(fake.body[0].buf, "{\"Type\":\"bind\",\"Source\":\"/var/lib/furrow/"
	       "apps/web/data/d\",\"Target\":\"/data:x\",\"ReadOnly\":true}"),
	   "create: the bind mount, a colon in the target is fine");
	value_free(v);

	answer("409 Conflict", "{\"message\":\"name web-a is in use\"}");
	fake_start();
	ret = engine_container_create(fake.path, &c, id);
	fake_stop();
	is_int(ret, FURROW_EIO, "create: a name in use");
	ok(has(error_message(), "status 409: name web-a is in use"), "  says so: %s",
	   error_message());
	answer("201 Created", "{\"Id\":\"abc\"}");
	fake_start();
	ret = engine_container_create(fake.path, &c, id);
	fake_stop();
	is_int(ret, FURROW_ESYNTAX, "create: an answer without a proper id");
	strbuf_release(&b1);
	strbuf_release(&b2);
}

static void test_lifecycle(void)
{
	int ret;

	answer("304 Not Modified", "");
	fake_start();
	ret = engine_container_start(fake.path, ID_A);
	fake_stop();
	is_int(ret, 0, "start: already running is fine");
	is_str(fake.request[0].buf, "POST /v1.41/containers/" ID_A "/start",
	       "start: the request");

	answer("204 No Content", "");
	fake_start();
	ret = engine_container_stop(fake.path, ID_A, 5);
	fake_stop();
	is_int(ret, 0, "stop: stopped");
	is_str(fake.request[0].buf, "POST /v1.41/containers/" ID_A "/stop?t=5",
	       "stop: the grace in the request");

	answer("404 Not Found", "{\"message\":\"no such container\"}");
	fake_start();
	ret = engine_container_stop(fake.path, ID_A, 5);
	fake_stop();
	is_int(ret, FURROW_ENOENT, "stop: no such container");

	answer("500 Internal Server Error", "{\"message\":\"boom\"}");
	fake_start();
	ret = engine_container_remove(fake.path, ID_A, 1);
	fake_stop();
	is_int(ret, FURROW_EIO, "remove: refused");
	is_str(fake.request[0].buf, "DELETE /v1.41/containers/" ID_A "?force=true&v=false",
	       "remove: the request");
	ok(has(error_message(), "DELETE /v1.41/containers/" ID_A
	       "?force=true&v=false: status 500: boom"), "  says so: %s",
	   error_message());
}

static void test_list(void)
{
	struct engine_container *list = NULL;
	size_t n = 0;
	int ret;

	answer("200 OK", "[{\"Id\":\"" ID_A "\",\"Names\":[\"/web-a\"],\"State\":\"running\","
	       "\"Labels\":{\"furrow.app\":\"web\"}},{\"Id\":\"" ID_E "\","
	       "\"Names\":[\"/web-b\"],\"State\":\"exited\",\"Labels\":{}}]");
	fake_start();
	ret = engine_container_list(&list, &n, fake.path, "furrow.app=web");
	fake_stop();
	is_int(ret, 0, "list: parsed");
	is_int(n, 2, "list: two");
	is_str(fake.request[0].buf, "GET /v1.41/containers/json?all=true&filters="
	       "%7B%22label%22%3A%5B%22furrow.app%3Dweb%22%5D%7D",
	       "list: the filter, encoded");
	if (n == 2) {
		is_str(list[0].name, "web-a", "list: name");
		ok(list[0].running && !list[1].running, "list: states");
		is_str(engine_container_label(&list[0], "furrow.app"), "web", "list: label");
	}
	engine_container_list_free(list, n);

	answer("200 OK", "[]");
	fake_start();
	ret = engine_container_list(&list, &n, fake.path, "furrow.app=web");
	fake_stop();
	ok(!ret && n == 0, "list: empty");
	engine_container_list_free(list, n);

	answer("200 OK", "[{\"Id\":\"" ID_A "\",\"Names\":\"/web-a\",\"State\":\"running\"}]");
	fake_start();
	ret = engine_container_list(&list, &n, fake.path, "furrow.app=web");
	fake_stop();
	ok(ret == FURROW_ESYNTAX && !list && !n, "list: Names not a list");
	answer("200 OK", "{\"Id\":\"" ID_A "\"}");
	fake_start();
	ret = engine_container_list(&list, &n, fake.path, "furrow.app=web");
	fake_stop();
	is_int(ret, FURROW_ESYNTAX, "list: not a list");
}

static void test_images(void)
{
	struct answer *a;
	struct strbuf s = STRBUF_INIT;
	int ret;

	answer("200 OK", "{\"Id\":\"sha256:" ID_A "\",\"RepoTags\":[]}");
	fake_start();
	ret = engine_image_present(fake.path, "127.0.0.1:5000/edge/web@sha256:" ID_E);
	fake_stop();
	is_int(ret, 1, "image present");
	is_str(fake.request[0].buf, "GET /v1.41/images/127.0.0.1:5000/edge/web@sha256:"
	       ID_E "/json", "image: the request keeps / : @ as they are");
	answer("404 Not Found", "{\"message\":\"failed to find image\"}");
	fake_start();
	ret = engine_image_present(fake.path, "r/x:1");
	fake_stop();
	is_int(ret, 0, "image absent");

	/* A pull reports success, or failure, in a 200 stream. */
	answer("200 OK", "{\"status\":\"Pulling fs layer\",\"progressDetail\":{},\"id\":\"45e\"}\n"
	       "{\"status\":\"Download complete\",\"progressDetail\":{},\"id\":\"818\"}\n");
	fake_start();
	ret = engine_image_pull(fake.path, "r/x@sha256:" ID_A, 5000, 1000, NULL);
	fake_stop();
	is_int(ret, 0, "pull: succeeded");
	is_str(fake.request[0].buf, "POST /v1.41/images/create?fromImage=r%2Fx%40sha256%3A" ID_A,
	       "pull: the request");

	answer("200 OK", "{\"status\":\"Trying\"}\n{\"progressDetail\":{},\"errorDetail\":"
	       "{\"message\":\"manifest unknown\"},\"error\":\"reading manifest: manifest unknown\"}\n");
	fake_start();
	ret = engine_image_pull(fake.path, "r/x@sha256:" ID_A, 5000, 1000, NULL);
	fake_stop();
	is_int(ret, FURROW_EIO, "pull: an error in the stream");
	ok(has(error_message(), "pull of r/x@sha256:" ID_A " failed: reading manifest: "
	       "manifest unknown"), "  says so: %s", error_message());

	/* A long stream: only its tail is kept, and the verdict is there. */
	for (int i = 0; i < 20000; i++)
		strbuf_addstr(&s, "{\"status\":\"Downloading\",\"progressDetail\":{\"current\":1}}\n");
	strbuf_addstr(&s, "{\"error\":\"disk full\"}\n");
	a = answer("200 OK", NULL);
	a->body_buf = strbuf_detach(&s, &a->body_len);
	a->close_delimited = 1;
	fake_start();
	ret = engine_image_pull(fake.path, "r/x:1", 5000, 1000, NULL);
	fake_stop();
	ok(ret == FURROW_EIO && has(error_message(), "failed: disk full"),
	   "pull: a %u-byte stream, error at the end: %s",
	   (unsigned)(20000 * 56), error_message());

	/* A stall: something, then nothing. */
	a = answer("200 OK", "{\"status\":\"Pulling fs layer\"}\n");
	a->close_delimited = 1;
	a->stall_ms = 2000;
	fake_start();
	ret = engine_image_pull(fake.path, "r/x:1", 10000, 300, NULL);
	fake_stop();
	is_int(ret, FURROW_ETIMEOUT, "pull: a stalled pull times out");
	ok(has(error_message(), "pull of r/x:1: container engine at ") &&
	   has(error_message(), "nothing received for 300 ms"), "  says so: %s",
	   error_message());

	a = answer("200 OK", "{\"status\":\"x\"}\nnot json");
	fake_start();
	ret = engine_image_pull(fake.path, "r/x:1", 5000, 1000, NULL);
	fake_stop();
	is_int(ret, FURROW_ESYNTAX, "pull: a last line that is not JSON");
}

static void test_exec(void)
{
	static char *argv[] = { (char *)"sh", (char *)"-c", (char *)"x", NULL };
	static const char frames[] = "\001\0\0\0\0\0\0\004out\n\002\0\0\0\0\0\0\004err\n";
	struct engine_exec_result r;
	struct answer *a;
	int ret;

	answer("201 Created", "{\"Id\":\"" ID_E "\"}");
	a = answer("200 OK", NULL);
	a->body_buf = malloc(sizeof(frames) - 1);
	memcpy(a->body_buf, frames, sizeof(frames) - 1);
	a->body_len = sizeof(frames) - 1;
	a->close_delimited = 1;
	answer("200 OK", "{\"Running\":false,\"ExitCode\":3,\"ID\":\"" ID_E "\"}");
	fake_start();
	ret = engine_exec(&r, fake.path, ID_A, argv, 5000);
	fake_stop();
	is_int(ret, 0, "exec: ran");
	is_int(r.exit_code, 3, "exec: exit code");
	is_str(r.output, "out\nerr\n", "exec: output, demultiplexed");
	is_str(fake.request[0].buf, "POST /v1.41/containers/" ID_A "/exec", "exec: create");
	ok(has(fake.body[0].buf, "\"Cmd\":[\"sh\",\"-c\",\"x\"]"), "exec: the command");
	is_str(fake.request[1].buf, "POST /v1.41/exec/" ID_E "/start", "exec: start");
	is_str(fake.request[2].buf, "GET /v1.41/exec/" ID_E "/json", "exec: inspect");

	answer("404 Not Found", "{\"message\":\"no such container\"}");
	fake_start();
	ret = engine_exec(&r, fake.path, ID_A, argv, 5000);
	fake_stop();
	is_int(ret, FURROW_ENOENT, "exec: no such container");
}

int main(void)
{
	test_http_unix();
	test_ping();
	test_inspect();
	test_create();
	test_lifecycle();
	test_list();
	test_images();
	test_exec();
	for (size_t i = 0; i < MAX_ANSWERS; i++) {
		strbuf_release(&fake.request[i]);
		strbuf_release(&fake.body[i]);
	}
	return tap_done();
}
