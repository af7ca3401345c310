/*
 * engine_api.c - see engine_api.h.
 *
 * The shape of each answer is checked before anything in it is used;
 * fields furrow does not read are ignored, so a newer engine's additions
 * do no harm.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bug.h"
#include "engine_api.h"
#include "error.h"
#include "http.h"
#include "json.h"
#include "limits.h"
#include "strbuf.h"
#include "value.h"
#include "banned.h"

/* Characters of a path or query that go as they are (RFC 3986
 * unreserved); `keep` adds more (a path keeps '/', ':' and '@'). */
static void add_escaped(struct strbuf *sb, const char *s, const char *keep)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr("-._~", ch) ||
		    (keep && strchr(keep, ch))) {
			strbuf_addch(sb, ch);
		} else {
			strbuf_addch(sb, '%');
			strbuf_addch(sb, hex[ch >> 4]);
			strbuf_addch(sb, hex[ch & 15]);
		}
	}
}

static void add_json(struct strbuf *sb, const char *s)
{
	strbuf_add_json_string(sb, s, strlen(s));
}

/* One request: what it is, for messages and for http_unix(). */
struct call {
	const char *socket;
	const char *method;
	struct strbuf path;          /* from the root, version included */
	const char *body;            /* NULL: none */
	size_t body_len;
	unsigned timeout_ms;
	unsigned idle_ms;
	size_t max;
	enum http_overflow overflow;
	const char *header;          /* NULL, or one more header */
};

static void call_init(struct call *c, const char *socket, const char *method)
{
	memset(c, 0, sizeof(*c));
	c->socket = socket;
	c->method = method;
	strbuf_init(&c->path, 64);
	strbuf_addstr(&c->path, "/" ENGINE_API_VERSION);
	c->timeout_ms = LIMIT_ENGINE_CALL_MS;
	c->max = LIMIT_ENGINE_RESPONSE_BYTES;
}

static void call_release(struct call *c)
{
	strbuf_release(&c->path);
}

/*
 * Send c.  A transport failure is recorded as the engine's: "container
 * engine at SOCKET is not answering: METHOD PATH: why" (FURROW_EIO) or
 * "container engine at SOCKET: METHOD PATH: no answer within N ms"
 * (FURROW_ETIMEOUT).  On 0, *out belongs to the caller.
 */
static int call_send(struct http_response *out, struct call *c)
{
	struct http_unix_request u = {
		.socket = c->socket, .method = c->method, .path = c->path.buf,
		.body = c->body, .body_len = c->body_len,
		.timeout_ms = c->timeout_ms, .idle_ms = c->idle_ms,
		.max_body = c->max, .overflow = c->overflow,
		.header = c->header,
	};
	char msg[FURROW_ERROR_MAX];
	const char *rest;
	size_t n = strlen(c->socket);
	int ret = http_unix(out, &u);

	if (ret != FURROW_EIO && ret != FURROW_ETIMEOUT)
		return ret;
	/* http_unix() says "SOCKET: METHOD PATH: why"; keep what follows
	 * the socket. */
	snprintf(msg, sizeof(msg), "%s", error_message());
	rest = msg;
	if (!strncmp(msg, c->socket, n) && !strncmp(msg + n, ": ", 2))
		rest = msg + n + 2;
	if (ret == FURROW_EIO)
		return error_set(ret, "container engine at %s is not answering: "
				 "%s", c->socket, rest);
	return error_set(ret, "container engine at %s: %s", c->socket, rest);
}

/* "container engine at SOCKET: METHOD PATH" into sb, for messages. */
static void call_name(struct strbuf *sb, const struct call *c)
{
	strbuf_addf(sb, "container engine at %s: %s %s", c->socket, c->method,
		    c->path.buf);
}

/*
 * The engine refused: record its status and message (the "message" of
 * its JSON error, else the first line of the body, at most 300 bytes,
 * control characters replaced).  404 is FURROW_ENOENT, the rest
 * FURROW_EIO.
 */
static int call_refused(const struct call *c, const struct http_response *r)
{
	struct strbuf name = STRBUF_INIT, why = STRBUF_INIT;
	struct value *v = NULL;
	const struct value *m;
	int code = r->status == 404 ? FURROW_ENOENT : FURROW_EIO, ret;

	call_name(&name, c);
	if (!r->truncated &&
	    !json_parse(&v, name.buf, r->body, r->body_len, r->body_len) &&
	    (m = value_get(v, "message")) && m->type == VALUE_STRING)
		strbuf_add(&why, m->u.string.ptr, m->u.string.len);
	else
		strbuf_add(&why, r->body, strcspn(r->body, "\r\n"));
	error_clear();
	if (why.len > 300)
		strbuf_setlen(&why, 300);
	for (size_t i = 0; i < why.len; i++)
		if ((unsigned char)why.buf[i] < ' ' || why.buf[i] == 0x7f)
			why.buf[i] = '?';
	ret = error_set(code, "%s: status %ld: %s", name.buf, r->status,
			why.len ? why.buf : "(no message)");
	value_free(v);
	strbuf_release(&name);
	strbuf_release(&why);
	return ret;
}

/* Parse r's body as JSON into *out; an answer cut at its cap is
 * FURROW_ELIMIT. */
static int call_json(struct value **out, const struct call *c,
		     const struct http_response *r)
{
	struct strbuf name = STRBUF_INIT;
	int ret;

	call_name(&name, c);
	if (r->truncated)
		ret = error_set(FURROW_ELIMIT, "%s: the answer is longer than "
				"%zu bytes", name.buf, c->max);
	else
		ret = json_parse(out, name.buf, r->body, r->body_len, c->max);
	strbuf_release(&name);
	return ret;
}

/* A bad field in an answer. */
static int call_bad(const struct call *c, const char *field, const char *want)
{
	struct strbuf name = STRBUF_INIT;
	int ret;

	call_name(&name, c);
	ret = error_set(FURROW_ESYNTAX, "%s: the answer's %s is not %s",
			name.buf, field, want);
	strbuf_release(&name);
	return ret;
}

/* The string at key of table t, if it is one (NULL otherwise). */
static const char *get_str(const struct value *t, const char *key)
{
	const struct value *v = value_get(t, key);

	if (!v || v->type != VALUE_STRING || strlen(v->u.string.ptr) !=
	    v->u.string.len)
		return NULL;
	return v->u.string.ptr;
}

static int is_id(const char *s)
{
	size_t n;

	for (n = 0; s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return 0;
	return n == 64;
}

/* Copy an "Id" of 64 hex digits from t into id. */
static int get_id(const struct call *c, const struct value *t, char id[65])
{
	const char *s = get_str(t, "Id");

	if (!s || !is_id(s))
		return call_bad(c, "Id", "64 hex digits");
	memcpy(id, s, 65);
	return 0;
}

/* Labels: absent, null, or an object of strings; copied into *out
 * (an empty table when there are none). */
static int get_labels(const struct call *c, const struct value *v,
		      struct value **out)
{
	if (!v || v->type == VALUE_NIL) {
		*out = value_new(VALUE_TABLE);
		return 0;
	}
	if (v->type != VALUE_TABLE)
		return call_bad(c, "Labels", "an object");
	for (size_t i = 0; i < v->u.table.count; i++) {
		const struct value_entry *e = &v->u.table.entries[i];

		if (e->key.type != VALUE_STRING || e->val.type != VALUE_STRING)
			return call_bad(c, "Labels", "an object of strings");
	}
	*out = value_new(VALUE_NIL);
	value_copy_into(*out, v);
	return 0;
}

/* Copy s into a buffer of size bytes, or fail naming field. */
static int put_field(const struct call *c, char *buf, size_t size,
		     const char *s, const char *field)
{
	if (strlen(s) >= size) {
		char want[64];

		snprintf(want, sizeof(want), "at most %zu bytes", size - 1);
		return call_bad(c, field, want);
	}
	memcpy(buf, s, strlen(s) + 1);
	return 0;
}

const char *engine_container_label(const struct engine_container *c,
				   const char *key)
{
	const struct value *v = value_get(c->labels, key);

	return v && v->type == VALUE_STRING ? v->u.string.ptr : NULL;
}

void engine_container_free(struct engine_container *c)
{
	if (!c)
		return;
	value_free(c->labels);
	free(c);
}

void engine_container_list_free(struct engine_container *list, size_t count)
{
	if (!list)
		return;
	for (size_t i = 0; i < count; i++)
		value_free(list[i].labels);
	free(list);
}

/* ---- ping, images ---- */

int engine_ping(const char *socket)
{
	struct http_response r;
	struct call c;
	int ret;

	call_init(&c, socket, "GET");
	strbuf_addstr(&c.path, "/_ping");
	c.max = 64;
	if ((ret = call_send(&r, &c)))
		goto out;
	if (r.status != 200)
		ret = call_refused(&c, &r);
	else if (strcmp(r.body, "OK"))
		ret = call_bad(&c, "body", "\"OK\"");
	http_response_release(&r);
out:
	call_release(&c);
	return ret;
}

int engine_image_present(const char *socket, const char *ref)
{
	struct http_response r;
	struct value *v = NULL;
	struct call c;
	int ret;

	call_init(&c, socket, "GET");
	strbuf_addstr(&c.path, "/images/");
	add_escaped(&c.path, ref, "/:@");
	strbuf_addstr(&c.path, "/json");
	if ((ret = call_send(&r, &c)))
		goto out;
	if (r.status == 404) {
		ret = 0;
	} else if (r.status != 200) {
		ret = call_refused(&c, &r);
	} else if (!(ret = call_json(&v, &c, &r))) {
		/* An image id is "sha256:<64 hex>". */
		const char *s = get_str(v, "Id");

		if (s && !strncmp(s, "sha256:", 7))
			s += 7;
		ret = s && is_id(s) ? 1 : call_bad(&c, "Id", "an image id");
	}
	value_free(v);
	http_response_release(&r);
out:
	call_release(&c);
	return ret;
}

int engine_image_pull(const char *socket, const char *ref,
		      unsigned timeout_ms, unsigned idle_ms,
		      const char *registry_auth)
{
	struct strbuf auth = STRBUF_INIT;
	struct http_response r;
	struct value *v = NULL;
	struct call c;
	const char *line, *err;
	size_t end;
	int ret;

	call_init(&c, socket, "POST");
	strbuf_addstr(&c.path, "/images/create?fromImage=");
	add_escaped(&c.path, ref, NULL);
	c.timeout_ms = timeout_ms;
	c.idle_ms = idle_ms;
	c.max = LIMIT_ENGINE_PULL_TAIL_BYTES;
	c.overflow = HTTP_OVERFLOW_TAIL;
	if (registry_auth) {
		strbuf_addf(&auth, "X-Registry-Auth: %s", registry_auth);
		c.header = auth.buf;
	}
	if ((ret = call_send(&r, &c))) {
		error_prefix(ret, "pull of %s", ref);
		goto out;
	}
	if (r.status != 200) {
		ret = error_prefix(call_refused(&c, &r), "pull of %s failed", ref);
		goto release;
	}
	/* The last object of the stream, one per line. */
	end = r.body_len;
	while (end && strchr(" \t\r\n", r.body[end - 1]))
		end--;
	r.body[end] = 0;
	line = strrchr(r.body, '\n');
	line = line ? line + 1 : r.body;
	if (!*line)
		goto release;   /* nothing said: the caller looks */
	if ((ret = json_parse(&v, "pull progress", line, strlen(line),
			      LIMIT_ENGINE_PULL_TAIL_BYTES))) {
		error_prefix(ret, "pull of %s: container engine at %s", ref,
			     socket);
		goto release;
	}
	if (value_get(v, "error") || value_get(v, "errorDetail")) {
		const struct value *d = value_get(v, "errorDetail");

		err = get_str(v, "error");
		if (!err && d)
			err = get_str(d, "message");
		ret = error_set(FURROW_EIO, "pull of %s failed: %.600s", ref,
				err ? err : "(the engine gave no reason)");
	}
release:
	value_free(v);
	http_response_release(&r);
out:
	call_release(&c);
	strbuf_release(&auth);
	return ret;
}

/* ---- containers ---- */

/* "80/tcp" */
static void port_key(struct strbuf *sb, const struct appspec_port *p)
{
	strbuf_addf(sb, "%u/%s", p->container_port, p->udp ? "udp" : "tcp");
}

void engine_create_body(struct strbuf *sb, const struct engine_create *c,
			int with_labels)
{
	struct strbuf k = STRBUF_INIT, k2 = STRBUF_INIT;

	strbuf_addstr(sb, "{\"Image\":");
	add_json(sb, c->image);
	if (c->cmd) {
		strbuf_addstr(sb, ",\"Cmd\":[");
		for (size_t i = 0; c->cmd[i]; i++) {
			if (i)
				strbuf_addch(sb, ',');
			add_json(sb, c->cmd[i]);
		}
		strbuf_addch(sb, ']');
	}
	strbuf_addstr(sb, ",\"Env\":[");
	for (size_t i = 0; i < c->env_count; i++) {
		strbuf_reset(&k);
		strbuf_addf(&k, "%s=%s", c->env[i].key, c->env[i].value);
		if (i)
			strbuf_addch(sb, ',');
		strbuf_add_json_string(sb, k.buf, k.len);
	}
	strbuf_addch(sb, ']');
	if (c->user) {
		strbuf_addstr(sb, ",\"User\":");
		add_json(sb, c->user);
	}
	if (with_labels) {
		strbuf_addstr(sb, ",\"Labels\":{");
		for (size_t i = 0; i < c->label_count; i++) {
			if (i)
				strbuf_addch(sb, ',');
			add_json(sb, c->labels[i].key);
			strbuf_addch(sb, ':');
			add_json(sb, c->labels[i].value);
		}
		strbuf_addch(sb, '}');
	}
	/* Ports: each container port once, with all its host bindings, in
	 * the order of first appearance. */
	strbuf_addstr(sb, ",\"ExposedPorts\":{");
	for (size_t i = 0, n = 0; i < c->port_count; i++) {
		size_t j;

		strbuf_reset(&k);
		port_key(&k, &c->ports[i]);
		for (j = 0; j < i; j++) {
			strbuf_reset(&k2);
			port_key(&k2, &c->ports[j]);
			if (!strcmp(k.buf, k2.buf))
				break;
		}
		if (j < i)
			continue;
		if (n++)
			strbuf_addch(sb, ',');
		strbuf_add_json_string(sb, k.buf, k.len);
		strbuf_addstr(sb, ":{}");
	}
	strbuf_addstr(sb, "},\"HostConfig\":{\"NetworkMode\":");
	add_json(sb, c->network ? c->network : "bridge");
	strbuf_addf(sb, ",\"Privileged\":%s,\"ReadonlyRootfs\":%s",
		    c->privileged ? "true" : "false",
		    c->read_only ? "true" : "false");
	strbuf_addstr(sb, ",\"PortBindings\":{");
	for (size_t i = 0, n = 0; i < c->port_count; i++) {
		size_t j, m = 0;

		strbuf_reset(&k);
		port_key(&k, &c->ports[i]);
		for (j = 0; j < i; j++) {
			strbuf_reset(&k2);
			port_key(&k2, &c->ports[j]);
			if (!strcmp(k.buf, k2.buf))
				break;
		}
		if (j < i)
			continue;
		if (n++)
			strbuf_addch(sb, ',');
		strbuf_add_json_string(sb, k.buf, k.len);
		strbuf_addstr(sb, ":[");
		for (j = i; j < c->port_count; j++) {
			strbuf_reset(&k2);
			port_key(&k2, &c->ports[j]);
			if (strcmp(k.buf, k2.buf))
				continue;
			if (m++)
				strbuf_addch(sb, ',');
			strbuf_addstr(sb, "{\"HostIp\":");
			add_json(sb, c->ports[j].host_ip ? c->ports[j].host_ip : "");
			strbuf_addf(sb, ",\"HostPort\":\"%u\"}", c->ports[j].host_port);
		}
		strbuf_addch(sb, ']');
	}
	strbuf_addstr(sb, "},\"Mounts\":[");
	for (size_t i = 0; i < c->mount_count; i++) {
		if (i)
			strbuf_addch(sb, ',');
		strbuf_addstr(sb, "{\"Type\":\"bind\",\"Source\":");
		add_json(sb, c->mounts[i].source);
		strbuf_addstr(sb, ",\"Target\":");
		add_json(sb, c->mounts[i].target);
		strbuf_addf(sb, ",\"ReadOnly\":%s}",
			    c->mounts[i].read_only ? "true" : "false");
	}
	strbuf_addch(sb, ']');
	if (c->memory)
		strbuf_addf(sb, ",\"Memory\":%llu", c->memory);
	if (c->cpus > 0)
		strbuf_addf(sb, ",\"NanoCpus\":%lld",
			    (long long)(c->cpus * 1e9 + 0.5));
	if (c->pids > 0)
		strbuf_addf(sb, ",\"PidsLimit\":%ld", c->pids);
	if (c->nofile > 0)
		strbuf_addf(sb, ",\"Ulimits\":[{\"Name\":\"nofile\",\"Soft\":%ld,"
			    "\"Hard\":%ld}]", c->nofile, c->nofile);
	strbuf_addstr(sb, "}}");
	strbuf_release(&k);
	strbuf_release(&k2);
}

int engine_container_create(const char *socket, const struct engine_create *cr,
			    char id[65])
{
	struct strbuf body = STRBUF_INIT;
	struct http_response r;
	struct value *v = NULL;
	struct call c;
	int ret;

	call_init(&c, socket, "POST");
	strbuf_addstr(&c.path, "/containers/create?name=");
	add_escaped(&c.path, cr->name, NULL);
	engine_create_body(&body, cr, 1);
	c.body = body.buf;
	c.body_len = body.len;
	if ((ret = call_send(&r, &c)))
		goto out;
	if (r.status != 201 && r.status != 200)
		ret = call_refused(&c, &r);
	else if (!(ret = call_json(&v, &c, &r)))
		ret = get_id(&c, v, id);
	value_free(v);
	http_response_release(&r);
out:
	strbuf_release(&body);
	call_release(&c);
	return ret;
}

/* POST /containers/ID/VERB[?query]: 204 done, 304 nothing to do. */
static int container_post(const char *socket, const char *id, const char *verb,
			  const char *query, unsigned timeout_ms)
{
	struct http_response r;
	struct call c;
	int ret;

	call_init(&c, socket, "POST");
	strbuf_addstr(&c.path, "/containers/");
	add_escaped(&c.path, id, NULL);
	strbuf_addf(&c.path, "/%s%s", verb, query ? query : "");
	c.timeout_ms = timeout_ms;
	if ((ret = call_send(&r, &c)))
		goto out;
	if (r.status != 204 && r.status != 304 && r.status != 200)
		ret = call_refused(&c, &r);
	http_response_release(&r);
out:
	call_release(&c);
	return ret;
}

int engine_container_start(const char *socket, const char *id)
{
	return container_post(socket, id, "start", NULL, LIMIT_ENGINE_CALL_MS);
}

int engine_container_stop(const char *socket, const char *id,
			  unsigned grace_s)
{
	char q[32];

	snprintf(q, sizeof(q), "?t=%u", grace_s);
	return container_post(socket, id, "stop", q,
			      LIMIT_ENGINE_CALL_MS + grace_s * 1000u);
}

int engine_container_remove(const char *socket, const char *id, int force)
{
	struct http_response r;
	struct call c;
	int ret;

	call_init(&c, socket, "DELETE");
	strbuf_addstr(&c.path, "/containers/");
	add_escaped(&c.path, id, NULL);
	strbuf_addf(&c.path, "?force=%s&v=false", force ? "true" : "false");
	if ((ret = call_send(&r, &c)))
		goto out;
	if (r.status != 204 && r.status != 200)
		ret = call_refused(&c, &r);
	http_response_release(&r);
out:
	call_release(&c);
	return ret;
}

/* Fill e from one container of an inspect answer. */
static int read_inspect(const struct call *c, const struct value *v,
			struct engine_container *e)
{
	const struct value *st = value_get(v, "State"), *cfg = value_get(v, "Config"),
			   *x;
	const char *s;
	int ret;

	if (v->type != VALUE_TABLE)
		return call_bad(c, "body", "an object");
	if ((ret = get_id(c, v, e->id)))
		return ret;
	if (!(s = get_str(v, "Name")))
		return call_bad(c, "Name", "a string");
	if ((ret = put_field(c, e->name, sizeof(e->name), s + (*s == '/'),
			     "Name")))
		return ret;
	if (!st || st->type != VALUE_TABLE)
		return call_bad(c, "State", "an object");
	x = value_get(st, "Running");
	if (!x || x->type != VALUE_BOOLEAN)
		return call_bad(c, "State.Running", "a boolean");
	e->running = x->u.boolean;
	if ((s = get_str(st, "Status")) &&
	    (ret = put_field(c, e->state, sizeof(e->state), s, "State.Status")))
		return ret;
	x = value_get(st, "ExitCode");
	if (x && x->type != VALUE_INTEGER)
		return call_bad(c, "State.ExitCode", "an integer");
	e->exit_code = x && x->u.integer >= -1000000 && x->u.integer <= 1000000 ?
		       (int)x->u.integer : -1;
	if ((s = get_str(st, "StartedAt")) &&
	    (ret = put_field(c, e->started_at, sizeof(e->started_at), s,
			     "State.StartedAt")))
		return ret;
	if (cfg && cfg->type != VALUE_TABLE && cfg->type != VALUE_NIL)
		return call_bad(c, "Config", "an object");
	return get_labels(c, cfg ? value_get(cfg, "Labels") : NULL, &e->labels);
}

int engine_container_inspect(struct engine_container **out,
			     const char *socket, const char *name_or_id)
{
	struct engine_container *e = xcalloc(1, sizeof(*e));
	struct http_response r;
	struct value *v = NULL;
	struct call c;
	int ret;

	*out = NULL;
	call_init(&c, socket, "GET");
	strbuf_addstr(&c.path, "/containers/");
	add_escaped(&c.path, name_or_id, NULL);
	strbuf_addstr(&c.path, "/json");
	if ((ret = call_send(&r, &c)))
		goto out;
	if (r.status != 200)
		ret = call_refused(&c, &r);
	else if (!(ret = call_json(&v, &c, &r)))
		ret = read_inspect(&c, v, e);
	value_free(v);
	http_response_release(&r);
out:
	call_release(&c);
	if (ret) {
		engine_container_free(e);
		return ret;
	}
	*out = e;
	return 0;
}

/* Fill e from one entry of a list answer. */
static int read_listed(const struct call *c, const struct value *v,
		       struct engine_container *e)
{
	const struct value *names = value_get(v, "Names"), *first;
	const char *s;
	int ret;

	e->exit_code = -1;
	if (v->type != VALUE_TABLE)
		return call_bad(c, "list entry", "an object");
	if ((ret = get_id(c, v, e->id)))
		return ret;
	if (!names || names->type != VALUE_TABLE || !value_is_array(names) ||
	    !names->u.table.count)
		return call_bad(c, "Names", "a list of names");
	first = &names->u.table.entries[0].val;
	if (first->type != VALUE_STRING)
		return call_bad(c, "Names", "a list of strings");
	s = first->u.string.ptr;
	if ((ret = put_field(c, e->name, sizeof(e->name), s + (*s == '/'),
			     "Names")))
		return ret;
	if (!(s = get_str(v, "State")))
		return call_bad(c, "State", "a string");
	if ((ret = put_field(c, e->state, sizeof(e->state), s, "State")))
		return ret;
	e->running = !strcmp(s, "running");
	return get_labels(c, value_get(v, "Labels"), &e->labels);
}

int engine_container_list(struct engine_container **out, size_t *count,
			  const char *socket, const char *label)
{
	struct strbuf filter = STRBUF_INIT;
	struct engine_container *list = NULL;
	struct http_response r;
	struct value *v = NULL;
	struct call c;
	size_t n = 0;
	int ret;

	*out = NULL;
	*count = 0;
	call_init(&c, socket, "GET");
	strbuf_addstr(&filter, "{\"label\":[");
	add_json(&filter, label);
	strbuf_addstr(&filter, "]}");
	strbuf_addstr(&c.path, "/containers/json?all=true&filters=");
	add_escaped(&c.path, filter.buf, NULL);
	if ((ret = call_send(&r, &c)))
		goto out;
	if (r.status != 200) {
		ret = call_refused(&c, &r);
		goto release;
	}
	if ((ret = call_json(&v, &c, &r)))
		goto release;
	if (v->type != VALUE_TABLE || !value_is_array(v)) {
		/* An empty list reads as an empty table, which is an array. */
		ret = call_bad(&c, "body", "a list");
		goto release;
	}
	if (v->u.table.count > LIMIT_ENGINE_CONTAINERS) {
		ret = error_set(FURROW_ELIMIT, "container engine at %s: more than "
				"%u containers labelled %s", socket,
				LIMIT_ENGINE_CONTAINERS, label);
		goto release;
	}
	list = xcalloc(v->u.table.count + 1, sizeof(*list));
	for (n = 0; !ret && n < v->u.table.count; n++)
		ret = read_listed(&c, &v->u.table.entries[n].val, &list[n]);
	if (ret) {
		engine_container_list_free(list, n);
		list = NULL;
		n = 0;
	}
release:
	value_free(v);
	http_response_release(&r);
out:
	strbuf_release(&filter);
	call_release(&c);
	*out = list;
	*count = n;
	return ret;
}

/* ---- exec ---- */

static long long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Milliseconds left before deadline, at least 1 (the call then fails
 * on its own timeout). */
static unsigned left_ms(long long deadline)
{
	long long l = deadline - now_ms();

	return l < 1 ? 1u : (unsigned)l;
}

/* The output of an attached exec without a terminal comes in frames: a
 * stream byte (0 stdin, 1 stdout, 2 stderr), three zeros, a big-endian
 * length, then that many bytes.  Anything else is taken as raw output. */
static void demux(struct engine_exec_result *out, const char *b, size_t n,
		  int more)
{
	size_t cap = sizeof(out->output) - 1;

	out->truncated = more;
	while (n) {
		const unsigned char *h = (const unsigned char *)b;
		size_t len, take;

		if (n >= 8 && h[0] <= 2 && !h[1] && !h[2] && !h[3]) {
			len = (size_t)h[4] << 24 | (size_t)h[5] << 16 |
			      (size_t)h[6] << 8 | h[7];
			b += 8;
			n -= 8;
		} else {
			len = n;
		}
		if (len > n) {
			len = n;
			out->truncated = 1;
		}
		take = cap - out->output_len < len ? cap - out->output_len : len;
		memcpy(out->output + out->output_len, b, take);
		out->output_len += take;
		if (take < len)
			out->truncated = 1;
		b += len;
		n -= len;
	}
	out->output[out->output_len] = 0;
}

int engine_exec(struct engine_exec_result *out, const char *socket,
		const char *id, char *const *argv, unsigned timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	struct strbuf body = STRBUF_INIT;
	struct http_response r;
	struct value *v = NULL;
	char exec_id[65];
	struct call c;
	int ret;

	memset(out, 0, sizeof(*out));
	out->exit_code = -1;
	call_init(&c, socket, "POST");
	strbuf_addstr(&c.path, "/containers/");
	add_escaped(&c.path, id, NULL);
	strbuf_addstr(&c.path, "/exec");
	strbuf_addstr(&body, "{\"AttachStdin\":false,\"AttachStdout\":true,"
		      "\"AttachStderr\":true,\"Tty\":false,\"Cmd\":[");
	for (size_t i = 0; argv[i]; i++) {
		if (i)
			strbuf_addch(&body, ',');
		add_json(&body, argv[i]);
	}
	strbuf_addstr(&body, "]}");
	c.body = body.buf;
	c.body_len = body.len;
	c.timeout_ms = left_ms(deadline);
	if ((ret = call_send(&r, &c)))
		goto out;
	if (r.status != 201 && r.status != 200)
		ret = call_refused(&c, &r);
	else if (!(ret = call_json(&v, &c, &r)))
		ret = get_id(&c, v, exec_id);
	value_free(v);
	v = NULL;
	http_response_release(&r);
	if (ret)
		goto out;

	/* Attached: the answer is the output, and ends when the process
	 * does. */
	call_release(&c);
	call_init(&c, socket, "POST");
	strbuf_addf(&c.path, "/exec/%s/start", exec_id);
	c.body = "{\"Detach\":false,\"Tty\":false}";
	c.body_len = strlen(c.body);
	c.timeout_ms = left_ms(deadline);
	c.max = 4 * LIMIT_ENGINE_EXEC_OUTPUT_BYTES + 64;
	c.overflow = HTTP_OVERFLOW_HEAD;
	if ((ret = call_send(&r, &c)))
		goto out;
	if (r.status != 200 && r.status != 101)
		ret = call_refused(&c, &r);
	else
		demux(out, r.body, r.body_len, r.truncated);
	http_response_release(&r);
	if (ret)
		goto out;

	/* The engine may record the exit a moment after the stream ends. */
	call_release(&c);
	call_init(&c, socket, "GET");
	strbuf_addf(&c.path, "/exec/%s/json", exec_id);
	for (;;) {
		const struct value *x;

		c.timeout_ms = left_ms(deadline);
		if ((ret = call_send(&r, &c)))
			goto out;
		if (r.status != 200)
			ret = call_refused(&c, &r);
		else
			ret = call_json(&v, &c, &r);
		http_response_release(&r);
		if (ret)
			goto out;
		x = value_get(v, "Running");
		if (!x || x->type != VALUE_BOOLEAN) {
			ret = call_bad(&c, "Running", "a boolean");
			goto out;
		}
		if (!x->u.boolean) {
			x = value_get(v, "ExitCode");
			if (!x || x->type != VALUE_INTEGER) {
				ret = call_bad(&c, "ExitCode", "an integer");
				goto out;
			}
			out->exit_code = x->u.integer >= 0 && x->u.integer <= 255 ?
					 (int)x->u.integer : -1;
			break;
		}
		value_free(v);
		v = NULL;
		if (now_ms() >= deadline) {
			ret = error_set(FURROW_ETIMEOUT, "container engine at %s: "
					"exec in %s still running after %u ms",
					socket, id, timeout_ms);
			goto out;
		}
		{
			struct timespec ts = { 0, 50 * 1000000L };

			nanosleep(&ts, NULL);
		}
	}
out:
	value_free(v);
	strbuf_release(&body);
	call_release(&c);
	return ret;
}
