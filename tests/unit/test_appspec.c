/*
 * test_appspec.c - core/appspec.c and core/appspec_deps.c: a full valid
 * app of each kind, the message (file, line, field path) of every kind of
 * mistake, unknown fields with suggestions, the limits, dependency order,
 * missing dependencies and cycles, and host-label selection.  furrow.lua
 * text goes through the real prelude and desired_summary_load(), so the
 * lines are the ones a user would see.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "appspec.h"
#include "config.h"
#include "desired.h"
#include "error.h"
#include "limits.h"
#include "strbuf.h"
#include "tap.h"
#include "value.h"

#define FILE_NAME "furrow.lua"
#define DIGEST "sha256:0123456789abcdef0123456789abcdef" \
	"0123456789abcdef0123456789abcdef"

/* Evaluate src and validate its apps; 0 and *out, or an error. */
static int load(struct appspec_list **out, const char *src)
{
	struct desired_summary *sum = NULL;
	int rc;

	*out = NULL;
	error_clear();
	rc = desired_summary_load(&sum, FILE_NAME, src, strlen(src));
	if (!rc)
		rc = appspec_parse_all(out, FILE_NAME, sum);
	desired_summary_free(sum);
	return rc;
}

static struct appspec_list *loads(const char *src, const char *name)
{
	struct appspec_list *l = NULL;
	int rc = load(&l, src);

	ok(rc == 0 && l, "%s: valid", name);
	if (rc)
		tap_diag("rc=%d (%s): %s", rc, error_name(rc), error_message());
	return rc ? NULL : l;
}

static void fails(const char *src, int code, const char *substr,
		  const char *name)
{
	struct appspec_list *l = NULL;
	int rc = load(&l, src);

	ok(rc == code && strstr(error_message(), substr) && !l, "%s -> %s",
	   name, error_name(code));
	if (rc != code || !strstr(error_message(), substr))
		tap_diag("rc=%d (%s) message: %s\n# want substring \"%s\"", rc,
			 error_name(rc), error_message(), substr);
	appspec_list_free(l);
}

/* An app of kind with fields appended, declared on line 3. */
static void field_fails(const char *base, const char *fields, int code,
			const char *substr)
{
	struct strbuf src = STRBUF_INIT;

	strbuf_addf(&src, "serial = 1\n\napp \"web\" { %s, %s }\n", base, fields);
	fails(src.buf, code, substr, fields);
	strbuf_release(&src);
}

static const struct appspec *find(const struct appspec_list *l,
				  const char *name)
{
	for (size_t i = 0; l && i < l->count; i++)
		if (!strcmp(l->apps[i]->name, name))
			return l->apps[i];
	return NULL;
}

static void test_container(void)
{
	struct appspec_list *l = loads(
		"app \"web\" {\n"
		"  kind = \"container\",\n"
		"  image = \"registry.local:5000/team/web:1.4@" DIGEST "\",\n"
		"  ports = { \"127.0.0.1:8080:80\", \"8443:443\", \"[::1]:5353:53/udp\" },\n"
		"  privileged = false, network = \"host\", read_only = true,\n"
		"  exec = { \"web\", \"--listen\", \":80\" },\n"
		"  user = 1000,\n"
		"  env = { LOG_LEVEL = \"info\", _X1 = \"\" },\n"
		"  limits = { memory = \"256M\", cpu = 0.5, pids = 100, nofile = 1024 },\n"
		"  volumes = { \"data:/var/lib/web\", \"conf:/etc/web:ro\" },\n"
		"  health = { http = \"http://127.0.0.1:8080/healthz\", expect_status = 204,\n"
		"             body = \"ok\", interval = 2, timeout = 1, retries = 3, settle = 5 },\n"
		"  strategy = \"stop-first\",\n"
		"  on = { role = \"gateway\", site = \"pune\" },\n"
		"  backup = { paths = { \"data\", \"conf/keys\" }, every = \"6h\", keep = 14,\n"
		"             pre = { \"web\", \"dump\" }, stop = true, snapshot_before_update = true },\n"
		"  secrets = { db_password = \"secrets/web-db.age\" },\n"
		"  purge = true,\n"
		"}\n", "full container app");
	const struct appspec *a = l ? l->apps[0] : NULL;

	if (!a)
		return;
	is_int(a->line, 1, "declaration line");
	is_int(a->kind, APPSPEC_CONTAINER, "kind");
	is_str(a->image_digest, DIGEST, "digest recorded");
	is_int(a->port_count, 3, "three ports");
	is_str(a->ports[0].host_ip, "127.0.0.1", "port 1 address");
	ok(a->ports[0].host_port == 8080 && a->ports[0].container_port == 80 &&
	   !a->ports[0].udp, "port 1 8080 -> 80 tcp");
	ok(!a->ports[1].host_ip && a->ports[1].host_port == 8443, "port 2 on "
	   "every address");
	ok(a->ports[2].udp && !strcmp(a->ports[2].host_ip, "::1") &&
	   a->ports[2].container_port == 53, "port 3 IPv6 udp");
	ok(a->network == APPSPEC_NET_HOST && a->read_only && !a->privileged,
	   "network, read_only, privileged");
	ok(a->exec.argc == 3 && !strcmp(a->exec.argv[2], ":80") &&
	   !a->exec.argv[3], "container command, NULL-terminated");
	is_str(a->user, "1000", "numeric user");
	ok(a->env_count == 2 && !strcmp(a->env[0].key, "LOG_LEVEL") &&
	   !strcmp(a->env[1].value, ""), "env in key order");
	ok(a->limits.memory == 256ull << 20 && a->limits.cpu == 0.5 &&
	   a->limits.pids == 100 && a->limits.nofile == 1024, "limits");
	ok(a->volume_count == 2 && !strcmp(a->volumes[1].name, "conf") &&
	   !strcmp(a->volumes[1].path, "/etc/web") && a->volumes[1].read_only &&
	   !a->volumes[0].read_only, "volumes");
	ok(a->health.kind == APPSPEC_HEALTH_HTTP && a->health.expect_status == 204 &&
	   !strcmp(a->health.body, "ok") && a->health.interval == 2 &&
	   a->health.timeout == 1 && a->health.retries == 3 &&
	   a->health.settle == 5, "health");
	is_int(a->strategy, APPSPEC_STOP_FIRST, "strategy");
	ok(a->on_count == 2 && !strcmp(a->on[0].key, "role"), "selector");
	ok(a->backup.enabled && a->backup.path_count == 2 &&
	   a->backup.every == 6 * 3600 && a->backup.keep == 14 &&
	   a->backup.pre.argc == 2 && a->backup.stop &&
	   a->backup.snapshot_before_update, "backup");
	ok(a->secret_count == 1 && !strcmp(a->secrets[0].value,
					   "secrets/web-db.age"), "secrets");
	ok(a->purge, "purge");
	appspec_list_free(l);

	l = loads("app 'c' { kind = 'container', image = 'nginx' }",
		  "minimal container with a plain tag-less image");
	if (l) {
		a = l->apps[0];
		ok(!a->image_digest && !a->port_count && !a->purge &&
		   a->network == APPSPEC_NET_PRIVATE &&
		   a->strategy == APPSPEC_START_FIRST &&
		   a->health.kind == APPSPEC_HEALTH_NONE && !a->backup.enabled,
		   "defaults: no digest, private network, start-first, no "
		   "health, no backup");
		ok(a->health.interval == 5 && a->health.timeout == 2 &&
		   a->health.retries == 3 && a->health.settle == 10 &&
		   a->health.expect_status == 200 && a->backup.every == 86400 &&
		   a->backup.keep == 7, "default timings");
	}
	appspec_list_free(l);
}

static void test_other_kinds(void)
{
	struct appspec_list *l = loads(
		"app \"sensor\" {\n"
		"  kind = \"service\", files = \"services/sensor\",\n"
		"  exec = { \"bin/sensor\", \"--port\", \"9100\" },\n"
		"  user = \"sensor\", env = { PORT = \"9100\" },\n"
		"  limits = { memory = 67108864 },\n"
		"  data = { \"db\", \"cache\" },\n"
		"  health = { tcp = \"127.0.0.1:9100\" },\n"
		"  backup = { paths = { \"db\" } },\n"
		"}\n"
		"app \"agent\" { kind = \"systemd\", unit = \"units/agent/agent.service\",\n"
		"  files = \"units/agent\", data = { \"state\" },\n"
		"  health = { exec = { \"/usr/bin/agentctl\", \"ping\" } } }\n"
		"app \"motd\" { kind = \"files\", files = \"etc/motd.d\",\n"
		"  target = \"/etc/motd.d\", on = { site = \"pune\" } }\n"
		"app \"tool\" { kind = \"service\", files = \"tools\",\n"
		"  exec = { \"/usr/bin/python3\", \"tool.py\" } }\n",
		"service, systemd and files apps");
	const struct appspec *a;

	if (!l)
		return;
	a = find(l, "sensor");
	ok(a && a->kind == APPSPEC_SERVICE && !strcmp(a->files,
	   "services/sensor") && a->exec.argc == 3 && !strcmp(a->user, "sensor") &&
	   a->limits.memory == 64ull << 20 && a->volume_count == 2 &&
	   !a->volumes[0].path && a->health.kind == APPSPEC_HEALTH_TCP &&
	   !strcmp(a->health.tcp, "127.0.0.1:9100"), "service fields");
	is_int(a ? a->line : 0, 1, "service line");
	a = find(l, "agent");
	ok(a && a->kind == APPSPEC_SYSTEMD && !strcmp(a->unit,
	   "units/agent/agent.service") && a->health.kind == APPSPEC_HEALTH_EXEC &&
	   a->health.exec.argc == 2, "systemd fields");
	is_int(a ? a->line : 0, 10, "systemd line");
	a = find(l, "motd");
	ok(a && a->kind == APPSPEC_FILES && !strcmp(a->target, "/etc/motd.d"),
	   "files fields");
	is_int(a ? a->line : 0, 13, "files line");
	a = find(l, "tool");
	ok(a && !strcmp(a->exec.argv[0], "/usr/bin/python3"),
	   "absolute program for a service");
	appspec_list_free(l);
}

struct bad {
	const char *base;
	const char *fields;
	int code;
	const char *message;
};

#define C "kind = 'container', image = 'nginx'"
#define S "kind = 'service', files = 'svc', exec = { 'bin/x' }"
#define D "kind = 'systemd', files = 'u', unit = 'u/x.service'"
#define F "kind = 'files', files = 'etc', target = '/etc/x'"
#define AT "furrow.lua:3: app web: "
#define EI FURROW_EINVAL
#define EL FURROW_ELIMIT

static const struct bad bad_fields[] = {
	/* the issue's own example */
	{ C, "health = { http = 'http://x/', interval = '2' }", EI,
	  AT "health.interval: expected a number > 0, got string" },
	{ C, "health = { tcp = 'h:1', interval = 0 }", EI,
	  AT "health.interval: expected a number > 0, got 0" },
	{ C, "health = { tcp = 'h:1', timeout = -1 }", EI,
	  AT "health.timeout: expected a number > 0, got -1" },
	{ C, "health = { tcp = 'h:1', settle = -0.5 }", EI,
	  AT "health.settle: expected a number >= 0, got -0.5" },
	{ C, "health = { tcp = 'h:1', interval = 86401 }", EL,
	  AT "health.interval: 86401 seconds is more than the limit" },
	{ C, "health = { tcp = 'h:1', retries = 1.5 }", EI,
	  AT "health.retries: expected an integer from 0 to 1000, got 1.5" },
	{ C, "health = { tcp = 'h:1', retries = -1 }", EI,
	  AT "health.retries: expected an integer from 0 to 1000, got -1" },
	{ C, "health = { http = 'http://x/', expect_status = 99 }", EI,
	  AT "health.expect_status: expected an integer from 100 to 599" },
	{ C, "health = { tcp = 'h:1', expect_status = 200 }", EI,
	  AT "health.expect_status: only for an http check" },
	{ C, "health = { exec = { 'true' }, body = 'ok' }", EI,
	  AT "health.body: only for an http check" },
	{ C, "health = { interval = 2 }", EI,
	  AT "health: give exactly one of http, tcp or exec (0 given)" },
	{ C, "health = { http = 'http://x/', tcp = 'x:1' }", EI,
	  AT "health: give exactly one of http, tcp or exec (2 given)" },
	{ C, "health = { http = 'ftp://x/' }", EI,
	  AT "health.http: 'ftp://x/' is not an http:// or https:// URL" },
	{ C, "health = { http = 'http:///x' }", EI,
	  AT "health.http: 'http:///x' is not an http://" },
	{ C, "health = { tcp = '127.0.0.1' }", EI,
	  AT "health.tcp: '127.0.0.1' is not HOST:PORT" },
	{ C, "health = { tcp = '::1:80' }", EI,
	  AT "health.tcp: '::1:80' is not HOST:PORT" },
	{ C, "health = { tcp = 'h:70000' }", EI, AT "health.tcp: 'h:70000'" },
	{ C, "health = { exec = {} }", EI, AT "health.exec: must not be empty" },
	{ C, "health = { exec = 'true' }", EI,
	  AT "health.exec: expected a list { ... }, got string" },
	{ S, "health = { exec = { '../x' } }", EI,
	  AT "health.exec[1]: path \"../x\": \".\" or \"..\" component" },
	{ C, "health = 'http://x/'", EI,
	  AT "health: expected a table { name = value, ... }, got string" },
	{ C, "health = { tcp = 'h:1', intervall = 2 }", EI,
	  AT "health.intervall: unknown field (did you mean interval?)" },

	{ "image = 'nginx'", "ports = {}", EI,
	  AT "kind: missing (required): \"container\", \"service\"" },
	{ "kind = 'contianer'", "image = 'x'", EI,
	  AT "kind: unknown kind 'contianer': use \"container\", \"service\", "
	  "\"systemd\" or \"files\" (did you mean container?)" },
	{ "kind = 1", "image = 'x'", EI, AT "kind: expected a string, got integer" },
	{ "kind = 'container'", "ports = {}", EI,
	  AT "image: missing (required for a container app)" },
	{ "kind = 'container'", "image = 'Web'", EI,
	  AT "image: 'Web' is not an image reference: repository path" },
	{ "kind = 'container'", "image = 'web@sha256:abc'", EI,
	  AT "image: 'web@sha256:abc' is not an image reference: the digest" },
	{ "kind = 'container'", "image = 'web@md5:" "0123456789abcdef0123456789abcdef'",
	  EI, AT "image: 'web@md5:" },
	{ "kind = 'container'", "image = 'web:'", EI, AT "image: 'web:' is not an "
	  "image reference: a tag is" },
	{ "kind = 'container'", "image = 'a..b/web'", EI, AT "image: 'a..b/web'" },
	{ "kind = 'container'", "image = 'web-'", EI, AT "image: 'web-'" },
	{ "kind = 'container'", "image = '-a.b/web'", EI, AT "image: '-a.b/web' "
	  "is not an image reference: bad registry host" },
	{ "kind = 'container'", "image = 'a.b:0/web'", EI, AT "image: 'a.b:0/web' is "
	  "not an image reference: bad registry port" },
	{ "kind = 'container'", "image = ''", EI, AT "image: '' is not an image "
	  "reference: no repository name" },
	{ C, "ports = { '8080' }", EI, AT "ports[1]: '8080' is not a port "
	  "mapping: give both ports" },
	{ C, "ports = { '1:2', '0:80' }", EI, AT "ports[2]: '0:80' is not a port "
	  "mapping: ports are numbers from 1 to 65535" },
	{ C, "ports = { '65536:80' }", EI, AT "ports[1]: '65536:80'" },
	{ C, "ports = { '8080:80/sctp' }", EI,
	  AT "ports[1]: '8080:80/sctp' is not a port mapping: the protocol" },
	{ C, "ports = { '300.1.1.1:80:80' }", EI,
	  AT "ports[1]: '300.1.1.1:80:80' is not a port mapping: bad IPv4" },
	{ C, "ports = { '[zz]:80:80' }", EI, AT "ports[1]: '[zz]:80:80' is not a "
	  "port mapping: bad IPv6 address" },
	{ C, "ports = { '8080:80', '127.0.0.1:8080:81' }", EI,
	  AT "ports[2]: host port 8080/tcp is published twice" },
	{ C, "ports = { 8080 }", EI, AT "ports[1]: expected a string " },
	{ C, "ports = { a = '1:1' }", EI,
	  AT "ports: expected a list { ... }, got a table with named keys" },
	{ C, "privileged = 'yes'", EI,
	  AT "privileged: expected true or false, got string" },
	{ C, "read_only = 1", EI, AT "read_only: expected true or false" },
	{ C, "purge = 'no'", EI, AT "purge: expected true or false" },
	{ C, "network = 'bridge'", EI, AT "network: expected \"private\", "
	  "\"host\" or \"none\", got 'bridge'" },
	{ C, "user = 'root user'", EI, AT "user: 'root user' is not a user name" },
	{ C, "user = -1", EI, AT "user: a uid is 0 to 4294967294, got -1" },
	{ C, "user = '99999999999'", EI, AT "user: a uid is 0 to 4294967294" },
	{ C, "user = true", EI, AT "user: expected a user name or uid, got boolean" },
	{ C, "env = { ['1X'] = 'a' }", EI, AT "env['1X']: bad name: environment "
	  "names are [A-Za-z_][A-Za-z0-9_]*" },
	{ C, "env = { ['A-B'] = 'a' }", EI, AT "env['A-B']: bad name" },
	{ C, "env = { PORT = 8080 }", EI, AT "env.PORT: expected a string, got "
	  "integer" },
	{ C, "env = { 'a' }", EI, AT "env: expected a table { name = value, ... }, "
	  "got a list" },
	{ C, "env = { X = 'a\\0b' }", EI, AT "env.X: contains a NUL byte" },
	{ C, "limits = { memory = '256Q' }", EI, AT "limits.memory: expected bytes "
	  "or a size such as \"256M\"" },
	{ C, "limits = { memory = 256 }", EI, AT "limits.memory: expected 1M to "
	  "1024T, got 256" },
	{ C, "limits = { memory = '2048T' }", EI, AT "limits.memory: expected 1M" },
	{ C, "limits = { memory = 1.5 }", EI, AT "limits.memory: expected bytes or "
	  "a size such as \"256M\", got number" },
	{ C, "limits = { cpu = 0 }", EI, AT "limits.cpu: expected a number of CPUs "
	  "> 0 and at most 4096, got 0" },
	{ C, "limits = { cpu = '1' }", EI, AT "limits.cpu: expected a number of "
	  "CPUs > 0, got string" },
	{ C, "limits = { pids = 0 }", EI, AT "limits.pids: expected an integer "
	  "from 1 to 4194304, got 0" },
	{ C, "limits = { nofile = 1e7 }", EI, AT "limits.nofile: expected an "
	  "integer from 1 to 1048576, got 10000000" },
	{ C, "limits = { memroy = '1G' }", EI, AT "limits.memroy: unknown field "
	  "(did you mean memory?)" },
	{ C, "volumes = { 'data' }", EI, AT "volumes[1]: 'data' is not "
	  "NAME:/path[:ro]" },
	{ C, "volumes = { 'Data:/x' }", EI, AT "volumes[1]: 'Data:/x' is not" },
	{ C, "volumes = { 'data:var/lib' }", EI, AT "volumes[1]: 'data:var/lib': "
	  "the mount path must be an absolute path" },
	{ C, "volumes = { 'data:/var/../etc' }", EI, AT "volumes[1]: "
	  "'data:/var/../etc': the mount path must not contain empty" },
	{ C, "volumes = { 'data:/x:rx' }", EI, AT "volumes[1]: 'data:/x:rx': the "
	  "mount path must not contain ':'" },
	{ C, "volumes = { 'a:/x', 'b:/x' }", EI, AT "volumes[2]: that mount path "
	  "is listed twice" },
	{ S, "data = { 'a', 'a' }", EI, AT "data[2]: that data name is listed "
	  "twice" },
	{ S, "data = { '../a' }", EI, AT "data[1]: '../a' is not a data name" },
	{ C, "data = { 'a' }", EI, AT "data: not a field of a container app (only "
	  "for service, systemd)" },
	{ S, "volumes = { 'a:/x' }", EI, AT "volumes: not a field of a service app "
	  "(only for container)" },
	{ S, "ports = { '1:1' }", EI, AT "ports: not a field of a service app" },
	{ F, "exec = { 'x' }", EI, AT "exec: not a field of a files app (only for "
	  "container, service)" },
	{ "kind = 'service', files = 'svc'", "user = 'x'", EI,
	  AT "exec: missing (required for a service app)" },
	{ "kind = 'service', exec = { 'x' }", "user = 'x'", EI,
	  AT "files: missing (required for a service app)" },
	{ "kind = 'service', files = '/srv/x'", "exec = { 'x' }", EI,
	  AT "files: path \"/srv/x\": absolute path (a relative path in the "
	  "repository)" },
	{ "kind = 'service', files = 'a//b'", "exec = { 'x' }", EI,
	  AT "files: path \"a//b\": empty component" },
	{ "kind = 'service', files = 's'", "exec = { '../bin/x' }", EI,
	  AT "exec[1]: path \"../bin/x\"" },
	{ "kind = 'service', files = 's'", "exec = { '' }", EI,
	  AT "exec[1]: the program must not be empty" },
	{ "kind = 'service', files = 's'", "exec = { '/usr/../bin/x' }", EI,
	  AT "exec[1]: '/usr/../bin/x' must not contain empty" },
	{ "kind = 'service', files = 's'", "exec = { 'x', 1 }", EI,
	  AT "exec[2]: expected a string, got integer" },
	{ "kind = 'systemd'", "files = 'x'", EI,
	  AT "unit: missing (required for a systemd app)" },
	{ "kind = 'systemd', files = 'u'", "unit = 'u/x.timer'", EI,
	  AT "unit: 'u/x.timer' must name a .service file" },
	{ "kind = 'systemd', files = 'u'", "unit = '.service'", EI,
	  AT "unit: '.service' must name a .service file" },
	{ "kind = 'systemd'", "unit = 'u/x.service'", EI,
	  AT "files: missing (required for a systemd app)" },
	{ "kind = 'systemd', files = 'web'", "unit = 'units/x.service'", EI,
	  AT "unit: 'units/x.service' is not inside files ('web')" },
	{ "kind = 'systemd', files = 'web'", "unit = 'webx/x.service'", EI,
	  AT "unit: 'webx/x.service' is not inside files ('web')" },
	{ "kind = 'files', files = 'etc'", "purge = false", EI,
	  AT "target: missing (required for a files app)" },
	{ "kind = 'files', files = 'etc'", "target = 'etc/x'", EI,
	  AT "target: 'etc/x' must be an absolute path" },
	{ "kind = 'files', files = 'etc'", "target = '/'", EI,
	  AT "target: '/' must not be / itself" },
	{ "kind = 'files', files = 'etc'", "target = '/etc/'", EI,
	  AT "target: '/etc/' must not contain empty" },
	{ F, "backup = { paths = { 'x' } }", EI,
	  AT "backup: not a field of a files app" },
	{ C, "strategy = 'rolling'", EI, AT "strategy: expected \"start-first\" "
	  "or \"stop-first\", got 'rolling'" },
	{ C, "depends_on = 'db'", EI, AT "depends_on: expected a list { ... }, "
	  "got string" },
	{ C, "depends_on = { 'web' }", EI, AT "depends_on[1]: an app cannot "
	  "depend on itself" },
	{ C, "depends_on = { 'a b' }", EI, AT "depends_on[1]: 'a b' is not an app "
	  "name" },
	{ C, "depends_on = { 'db', 'db' }", EI, AT "depends_on[2]: 'db' is listed "
	  "twice" },
	{ C, "on = { role = 1 }", EI, AT "on.role: expected a string, got integer" },
	{ C, "on = { role = 'a b' }", EI, AT "on.role: 'a b' is not a label value" },
	{ C, "on = { ['a b'] = 'x' }", EI, AT "on['a b']: bad name: label names" },
	{ C, "on = 'gateway'", EI, AT "on: expected a table" },
	{ C, "backup = { every = '6h' }", EI, AT "backup.paths: missing (required)" },
	{ C, "backup = { paths = {} }", EI, AT "backup.paths: must not be empty" },
	{ C, "backup = { paths = { 'data' } }", EI, AT "backup.paths[1]: 'data' "
	  "is not a data directory of this app (declare it in volumes)" },
	{ S, "backup = { paths = { 'db/x' } }", EI, AT "backup.paths[1]: 'db' is "
	  "not a data directory of this app (declare it in data)" },
	{ C, "volumes = { 'd:/d' }, backup = { paths = { '/d' } }", EI,
	  AT "backup.paths[1]: path \"/d\": absolute path" },
	{ C, "volumes = { 'd:/d' }, backup = { paths = { 'd' }, every = 6 }", EI,
	  AT "backup.every: expected a duration such as \"6h\", got integer" },
	{ C, "volumes = { 'd:/d' }, backup = { paths = { 'd' }, every = '6x' }",
	  EI, AT "backup.every: expected a duration such as \"30m\", \"6h\", "
	  "\"1d\" or \"1h30m\" (at most 366d), got '6x'" },
	{ C, "volumes = { 'd:/d' }, backup = { paths = { 'd' }, keep = 0 }", EI,
	  AT "backup.keep: expected an integer from 1 to 10000, got 0" },
	{ C, "volumes = { 'd:/d' }, backup = { paths = { 'd' }, pre = {} }", EI,
	  AT "backup.pre: must not be empty" },
	{ C, "volumes = { 'd:/d' }, backup = { paths = { 'd' }, stop = 1 }", EI,
	  AT "backup.stop: expected true or false" },
	{ C, "volumes = { 'd:/d' }, backup = { paths = { 'd' }, snapshot = true }",
	  EI, AT "backup.snapshot: unknown field" },
	{ C, "secrets = { db = 'secrets/db.txt' }", EI,
	  AT "secrets.db: 'secrets/db.txt' must name a .age file" },
	{ C, "secrets = { db = '/etc/db.age' }", EI,
	  AT "secrets.db: path \"/etc/db.age\": absolute path" },
	{ C, "secrets = { ['db-x'] = 's/x.age' }", EI,
	  AT "secrets['db-x']: bad name: secret names" },
	{ C, "secrets = { 's/x.age' }", EI, AT "secrets: expected a table" },
	/* unknown fields, with and without a suggestion */
	{ C, "prots = { '1:1' }", EI, AT "prots: unknown field (did you mean "
	  "ports?)" },
	{ C, "helth = {}", EI, AT "helth: unknown field (did you mean health?)" },
	{ C, "dependson = { 'db' }", EI, AT "dependson: unknown field (did you "
	  "mean depends_on?)" },
	{ C, "colour = 'blue'", EI, AT "colour: unknown field\n" },
	{ S, "unti = 'x.service'", EI, AT "unti: unknown field\n" },
	{ C, "[1] = 'x'", EI, AT "unexpected list element [1]; expected name = "
	  "value" },
	{ C, "['a\\nb'] = 1", EI, AT "['a\\010b']: unknown field" },
};

static void test_field_errors(void)
{
	for (size_t i = 0; i < sizeof(bad_fields) / sizeof(*bad_fields); i++) {
		const struct bad *b = &bad_fields[i];
		struct strbuf want = STRBUF_INIT;

		/* "\n" in a wanted message means "the end of that line". */
		strbuf_addstr(&want, b->message);
		if (want.len && want.buf[want.len - 1] == '\n') {
			struct appspec_list *l = NULL;
			struct strbuf src = STRBUF_INIT;
			const char *m;

			strbuf_setlen(&want, want.len - 1);
			strbuf_addf(&src, "serial = 1\n\napp \"web\" { %s, %s }\n",
				    b->base, b->fields);
			load(&l, src.buf);
			m = error_message();
			ok(!l && !strcmp(m, want.buf), "%s: no suggestion",
			   b->fields);
			if (strcmp(m, want.buf))
				tap_diag("got: %s", m);
			strbuf_release(&src);
			appspec_list_free(l);
		} else {
			field_fails(b->base, b->fields, b->code, want.buf);
		}
		strbuf_release(&want);
	}
}

static void test_many_errors(void)
{
	struct appspec_list *l = NULL;
	struct strbuf src = STRBUF_INIT;
	const char *m;

	fails("app 'a' { kind = 'container', image = 'x', privileged = 1,\n"
	      "  network = 'wan' }\napp 'b' { kind = 'files' }\n", EI,
	      "furrow.lua:1: app a: network: expected \"private\", \"host\" or "
	      "\"none\", got 'wan'\n"
	      "furrow.lua:1: app a: privileged: expected true or false, got "
	      "integer\n"
	      "furrow.lua:3: app b: files: missing (required for a files app)\n"
	      "furrow.lua:3: app b: target: missing (required for a files app)",
	      "every problem of every app, in order");

	/* A hundred bad fields: whole lines within error.h's buffer and a
	 * count of the rest. */
	strbuf_addstr(&src, "app 'a' { kind = 'container', image = 'x'");
	for (int i = 0; i < 100; i++)
		strbuf_addf(&src, ", unknown_field_%03d = 1", i);
	strbuf_addstr(&src, " }\n");
	load(&l, src.buf);
	m = error_message();
	ok(!l && strlen(m) < FURROW_ERROR_MAX - 1 &&
	   strstr(m, "furrow.lua: ") && strstr(m, " more errors not shown") &&
	   m[strlen(m) - 1] == 'n', "many errors: capped, whole lines, counted");
	if (!strstr(m, "more errors not shown"))
		tap_diag("got: %s", m);
	strbuf_release(&src);
	appspec_list_free(l);
}

static void test_limits(void)
{
	struct strbuf src = STRBUF_INIT, big = STRBUF_INIT;

	strbuf_addstr(&src, "local env = {}\nfor i = 1, 257 do env['E' .. i] = "
		      "'x' end\napp 'web' { kind = 'container', image = 'x', "
		      "env = env }\n");
	fails(src.buf, EL, "furrow.lua:3: app web: env: 257 entries, more than "
	      "the limit of 256 (LIMIT_APP_ENV)", "257 env entries");
	strbuf_reset(&src);
	strbuf_addstr(&src, "local env = {}\nfor i = 1, 256 do env['E' .. i] = "
		      "'x' end\napp 'web' { kind = 'container', image = 'x', "
		      "env = env }\n");
	{
		struct appspec_list *l = loads(src.buf, "256 env entries");

		ok(l && l->apps[0]->env_count == 256, "256 env entries kept");
		appspec_list_free(l);
	}
	strbuf_reset(&src);
	strbuf_addstr(&src, "local p = {}\nfor i = 1, 65 do p[i] = (1000 + i) .. "
		      "':80' end\napp 'web' { kind = 'container', image = 'x', "
		      "ports = p }\n");
	fails(src.buf, EL, "app web: ports: 65 entries, more than the limit of "
	      "64 (LIMIT_APP_PORTS)", "65 ports");
	strbuf_reset(&src);
	strbuf_addstr(&src, "local a = {}\nfor i = 1, 257 do a[i] = 'x' end\n"
		      "app 'web' { kind = 'service', files = 's', exec = a }\n");
	fails(src.buf, EL, "app web: exec: 257 entries, more than the limit of "
	      "256 (LIMIT_APP_EXEC_ARGS)", "257 exec arguments");
	strbuf_reset(&src);
	strbuf_addstr(&src, "app 'web' { kind = 'service', files = 's', exec = "
		      "{ 'x', string.rep('a', 4097) } }\n");
	fails(src.buf, EL, "app web: exec[2]: a string of 4097 bytes, more than "
	      "the limit of 4096 (LIMIT_APP_STRING_BYTES)", "a 4097-byte argument");
	strbuf_reset(&src);
	strbuf_addstr(&src, "app 'web' { kind = 'service', files = 's', exec = "
		      "{ 'x', string.rep('a', 4096) } }\n");
	{
		struct appspec_list *l = loads(src.buf, "a 4096-byte argument");

		appspec_list_free(l);
	}
	strbuf_reset(&src);
	strbuf_addstr(&src, "local d = {}\nfor i = 1, 65 do d[i] = 'app' .. i "
		      "end\napp 'web' { kind = 'container', image = 'x', "
		      "depends_on = d }\n");
	fails(src.buf, EL, "depends_on: 65 entries, more than the limit of 64 "
	      "(LIMIT_APP_DEPENDS)", "65 dependencies");
	strbuf_reset(&src);
	strbuf_addstr(&src, "local s = {}\nfor i = 1, 257 do s['s' .. i] = "
		      "'s/x.age' end\napp 'web' { kind = 'container', image = "
		      "'x', secrets = s }\n");
	fails(src.buf, EL, "secrets: 257 entries, more than the limit of 256 "
	      "(LIMIT_APP_SECRETS)", "257 secrets");
	strbuf_reset(&src);
	strbuf_addstr(&src, "local v = {}\nfor i = 1, 65 do v[i] = 'd' .. i .. "
		      "':/d' .. i end\napp 'web' { kind = 'container', image = "
		      "'x', volumes = v }\n");
	fails(src.buf, EL, "volumes: 65 entries, more than the limit of 64 "
	      "(LIMIT_APP_VOLUMES)", "65 volumes");
	strbuf_reset(&src);
	strbuf_addstr(&src, "local o = {}\nfor i = 1, 65 do o['l' .. i] = 'x' "
		      "end\napp 'web' { kind = 'container', image = 'x', on = o "
		      "}\n");
	fails(src.buf, EL, "on: 65 entries, more than the limit of 64 "
	      "(LIMIT_APP_SELECTOR)", "65 selector labels");
	strbuf_reset(&src);
	strbuf_addf(&src, "app 'web' { kind = 'container', image = 'x', env = "
		    "{ %s = 'x' } }\n", "A0123456789012345678901234567890123456789"
		    "0123456789012345678901234567890123456789012345678901234567"
		    "890123456789012345678901234567890");
	fails(src.buf, EI, "bad name: environment names", "a 129-byte env name");
	strbuf_release(&src);
	strbuf_release(&big);
}

static void test_dependencies(void)
{
	struct appspec_list *l;

	l = loads("app 'web' { kind = 'container', image = 'x', depends_on = "
		  "{ 'db', 'cache' } }\n"
		  "app 'cache' { kind = 'container', image = 'x' }\n"
		  "app 'logs' { kind = 'container', image = 'x' }\n"
		  "app 'db' { kind = 'container', image = 'x', depends_on = "
		  "{ 'logs' } }\n"
		  "app 'cron' { kind = 'container', image = 'x' }\n",
		  "dependencies");
	if (l) {
		struct strbuf sb = STRBUF_INIT;

		for (size_t i = 0; i < l->count; i++)
			strbuf_addf(&sb, "%s%s", i ? " " : "", l->apps[i]->name);
		is_str(sb.buf, "cache logs db web cron", "dependency order, "
		       "otherwise declaration order");
		strbuf_release(&sb);
	}
	appspec_list_free(l);

	fails("app 'web' { kind = 'container', image = 'x',\n"
	      "  depends_on = { 'db' } }\n"
	      "app 'dbs' { kind = 'container', image = 'x' }\n", EI,
	      "furrow.lua:1: app web: depends_on[1]: no app named 'db' in "
	      "furrow.lua (did you mean 'dbs'?)", "missing dependency");
	fails("app 'web' { kind = 'container', image = 'x',\n"
	      "  depends_on = { 'cache', 'zzzzzzzz' } }\n"
	      "app 'cache' { kind = 'container', image = 'x' }\n", EI,
	      "furrow.lua:1: app web: depends_on[2]: no app named 'zzzzzzzz' "
	      "in furrow.lua", "missing dependency without a suggestion");
	fails("app 'x' { kind = 'container', image = 'x' }\n"
	      "app 'a' { kind = 'container', image = 'x', depends_on = { 'x', "
	      "'b' } }\n"
	      "app 'b' { kind = 'container', image = 'x', depends_on = { 'c' } "
	      "}\n"
	      "app 'c' { kind = 'container', image = 'x', depends_on = { 'a' } "
	      "}\n", EI,
	      "furrow.lua:2: app a: depends_on: dependency cycle: a -> b -> c "
	      "-> a", "a dependency cycle, named from its first app");
	fails("app 'p' { kind = 'container', image = 'x', depends_on = { 'q' } }\n"
	      "app 'q' { kind = 'container', image = 'x', depends_on = { 'r' } }\n"
	      "app 'r' { kind = 'container', image = 'x', depends_on = { 's' } }\n"
	      "app 's' { kind = 'container', image = 'x', depends_on = { 'r' } }\n",
	      EI, "furrow.lua:3: app r: depends_on: dependency cycle: r -> s -> r",
	      "a cycle reached through a chain");

	/* A long chain, declared backwards: iterative, in order. */
	{
		struct strbuf src = STRBUF_INIT;

		strbuf_addstr(&src, "for i = 1, 2000 do app('a' .. i) { kind = "
			      "'container', image = 'x', depends_on = i < 2000 "
			      "and { 'a' .. (i + 1) } or nil } end\n");
		l = loads(src.buf, "a chain of 2000 apps");
		ok(l && l->count == 2000 && !strcmp(l->apps[0]->name, "a2000") &&
		   !strcmp(l->apps[1999]->name, "a1"), "chain ordered");
		appspec_list_free(l);
		strbuf_reset(&src);
		strbuf_addstr(&src, "for i = 1, 2000 do app('a' .. i) { kind = "
			      "'container', image = 'x', depends_on = { 'a' .. "
			      "(i % 2000 + 1) } } end\n");
		fails(src.buf, EI, "app a1: depends_on: dependency cycle: a1 -> "
		      "a2 -> a3", "a cycle of 2000 apps");
		ok(strstr(error_message(), "-> ... -> a1") != NULL,
		   "a long cycle is shortened");
		strbuf_release(&src);
	}
}

static void test_selector(void)
{
	struct config_label host[] = {
		{ (char *)"role", (char *)"gateway" },
		{ (char *)"site", (char *)"pune" },
	};
	struct appspec_list *l = loads(
		"app 'all' { kind = 'container', image = 'x' }\n"
		"app 'gw' { kind = 'container', image = 'x', on = { role = "
		"'gateway' } }\n"
		"app 'both' { kind = 'container', image = 'x', on = { role = "
		"'gateway', site = 'pune' } }\n"
		"app 'other' { kind = 'container', image = 'x', on = { site = "
		"'delhi' } }\n"
		"app 'missing' { kind = 'container', image = 'x', on = { zone = "
		"'a' } }\n", "selectors");

	if (!l)
		return;
	ok(appspec_selected(find(l, "all"), host, 2), "no selector: every host");
	ok(appspec_selected(find(l, "all"), NULL, 0), "no selector, no labels");
	ok(appspec_selected(find(l, "gw"), host, 2), "one label matches");
	ok(appspec_selected(find(l, "both"), host, 2), "two labels match");
	ok(!appspec_selected(find(l, "both"), host, 1), "a label the host lacks");
	ok(!appspec_selected(find(l, "other"), host, 2), "a different value");
	ok(!appspec_selected(find(l, "missing"), host, 2), "an unknown label");
	ok(!appspec_selected(find(l, "gw"), NULL, 0), "a host without labels");
	appspec_list_free(l);
}

static void test_duration(void)
{
	static const struct { const char *s; long long want; } good[] = {
		{ "90s", 90 }, { "15m", 900 }, { "6h", 21600 }, { "1d", 86400 },
		{ "1h30m", 5400 }, { "1d2h3m4s", 93784 }, { "366d", 366 * 86400 },
	};
	static const char *const bad[] = {
		"", "6", "h", "6x", "1m1h", "1h1h", "0s", "367d", "-1h", "1.5h",
		"6h ", " 6h", "9999999999s",
	};
	long long s;

	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++)
		ok(!appspec_parse_duration(good[i].s, &s) && s == good[i].want,
		   "duration %s = %lld", good[i].s, good[i].want);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		ok(appspec_parse_duration(bad[i], &s) == FURROW_EINVAL,
		   "duration '%s' refused", bad[i]);
}

static void test_direct(void)
{
	struct value *spec = value_new(VALUE_TABLE);
	struct appspec *a = (struct appspec *)1;
	int rc;

	value_set_string(value_table_add_str(spec, "kind", 4), "files", 5);
	value_set_string(value_table_add_str(spec, "files", 5), "etc", 3);
	value_sort(spec);
	error_clear();
	rc = appspec_parse(&a, "x.lua", 0, "motd", spec);
	ok(rc == FURROW_EINVAL && !a && !strcmp(error_message(), "x.lua: app "
	   "motd: target: missing (required for a files app)"),
	   "appspec_parse without a line");
	value_set_string(value_table_add_str(spec, "target", 6), "/etc/motd", 9);
	value_sort(spec);
	rc = appspec_parse(&a, "x.lua", 7, "motd", spec);
	ok(rc == 0 && a && a->line == 7 && !strcmp(a->target, "/etc/motd"),
	   "appspec_parse of a built value");
	is_str(appspec_kind_name(a ? a->kind : APPSPEC_CONTAINER), "files",
	       "kind name");
	appspec_free(a);
	appspec_free(NULL);
	appspec_list_free(NULL);
	value_free(spec);

	error_clear();
	rc = appspec_parse(&a, "x.lua", 2, "n", NULL);
	ok(rc == FURROW_EINVAL && !a && strstr(error_message(), "x.lua:2: app n: "
	   "the spec must be a table"), "no spec at all");
}

static void test_desired_lines(void)
{
	struct desired_summary *s = NULL;
	const char *src = "-- comment\n\napp 'a' {}\nlocal f = app 'b'\n\nf { "
			  "kind = 'x' }\n";

	error_clear();
	ok(!desired_summary_load(&s, FILE_NAME, src, strlen(src)) && s &&
	   s->app_count == 2, "summary with two apps");
	if (!s)
		return;
	is_int(s->app_lines[0], 3, "line of app a");
	is_int(s->app_lines[1], 4, "line of app b is its declaration");
	ok(s->app_specs[1]->type == VALUE_TABLE &&
	   value_get(s->app_specs[1], "kind"), "spec kept in the summary");
	desired_summary_free(s);
}

int main(void)
{
	test_container();
	test_other_kinds();
	test_field_errors();
	test_many_errors();
	test_limits();
	test_dependencies();
	test_selector();
	test_duration();
	test_direct();
	test_desired_lines();
	return tap_done();
}
