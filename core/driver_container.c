/*
 * driver_container.c - the `container` driver: an OCI image run by the
 * container engine (Docker, or Podman's compatible service) through its
 * API on the socket containers.socket names (core/engine_api.h).
 *
 * A slot is a container named "<app>-a" or "<app>-b" carrying furrow's
 * labels:
 *
 *   furrow.app     the app
 *   furrow.slot    "a" or "b"
 *   furrow.commit  the commit the slot was staged from (its manifest)
 *   furrow.spec    that commit's spec hash of the app (its manifest)
 *   furrow.config  SHA-256 of the create request without its labels:
 *                  image, command, env, user, ports, mounts, limits,
 *                  flags, network - what the engine was asked to run
 *
 * start creates the container when it is missing or holds another
 * version (another config, commit or spec), after pulling the image if
 * the engine does not have it, and starts it; a container of the right
 * version that is merely stopped is only started again.  stop stops it
 * (SIGTERM, SIGKILL after apply.stop_timeout) and KEEPS it, and its
 * image: a rollback, or a revert after a failed update, is a restart,
 * not a pull.  The container of the older slot is replaced when that
 * slot is staged again, by the update after next.  remove removes every
 * container labelled furrow.app=<app>; images are not removed (they may
 * be shared; see "Not yet" below).
 *
 * Images.  With a digest ("reg/path:tag@sha256:..."), the container is
 * created from "reg/path@sha256:..." (the tag dropped: the digest is
 * what counts, and Podman refuses both), pulled by digest when missing,
 * up to LIMIT_ENGINE_PULL_TRIES times with backoff; a pull that sends no
 * progress for LIMIT_ENGINE_PULL_IDLE_SECONDS has stalled.  Without a
 * digest the reference is pulled only when missing: pin a digest to
 * update an image.  Registry credentials and TLS to the registry are the
 * engine's business (its own configuration).
 *
 * Foreign containers.  furrow never touches a container that does not
 * carry furrow.app=<app> and furrow.slot=<slot>: one that took a slot's
 * name (replaced by hand) makes running() say so (drift), and start()
 * then fails with a clear error rather than remove or rename it -
 * renaming someone's container breaks whatever manages it, and removing
 * it loses it.  The operator removes or renames it once; the next pass
 * creates furrow's.  stop() leaves it alone and succeeds (furrow's slot
 * is not running), and remove() only lists containers by furrow's label.
 *
 * Data.  Each volume "NAME:/path[:ro]" mounts the app's data directory
 * state_dir/apps/<app>/data/NAME (created 0750 when missing; chowned to
 * `user` when that is a numeric uid and furrow runs as root; a user
 * name is resolved inside the image, so the directory then stays
 * furrow's) at /path, as a bind mount.
 *
 * Network.  "private" is the engine's default bridge ("bridge"), "host"
 * and "none" as they say.  `privileged` is passed as the spec says; the
 * policy std:deny-privileged is what refuses it.  `limits`: memory ->
 * Memory, cpu -> NanoCpus, pids -> PidsLimit, nofile -> a nofile
 * ulimit.
 *
 * Health.  http and tcp checks run from the host (core/health.c), so
 * the app must publish its port or use network "host"; an exec check
 * runs on the host too, like a service's, not in the container (the
 * driver seam has no hook for it yet; engine_exec() is there for it).
 *
 * Engine down.  Every call fails with FURROW_EIO, "container engine at
 * SOCKET is not answering: ...": the app's operation fails, containers
 * already running are not touched (they do not depend on the API
 * service), nothing is recorded as applied, and the next pass tries
 * again.
 *
 * Not yet: image pruning (images stay until removed by hand), engine
 * health checks, exec checks in the container, restart policies (a
 * container that exits is restarted by the next pass's drift check).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backoff.h"
#include "bug.h"
#include "config.h"
#include "driver.h"
#include "value.h"
#include "sshwire.h"
#include "json.h"
#include "engine_api.h"
#include "error.h"
#include "limits.h"
#include "log.h"
#include "slots.h"
#include "strbuf.h"
#include "verify.h"
#include "banned.h"

#define LABEL_APP    "furrow.app"
#define LABEL_SLOT   "furrow.slot"
#define LABEL_COMMIT "furrow.commit"
#define LABEL_SPEC   "furrow.spec"
#define LABEL_CONFIG "furrow.config"

/* What a slot's container should be. */
struct want {
	char name[ENGINE_NAME_BYTES];
	struct strbuf image;          /* the reference created from */
	struct engine_create cr;
	struct engine_mount *mounts;
	struct strbuf *sources;       /* the mounts' host paths */
	char config[65];              /* furrow.config */
};

static const char *sock(const struct driver_ctx *c)
{
	return c->cfg->containers.socket;
}

static void slot_name(char *buf, size_t size, const char *app, int slot)
{
	snprintf(buf, size, "%s-%c", app, slot);
}

/* "reg:5000/path:tag@sha256:..." -> "reg:5000/path@sha256:..."; a
 * reference without a digest stays as written. */
static void image_ref(struct strbuf *sb, const struct appspec *a)
{
	const char *at, *slash, *colon;

	if (!a->image_digest) {
		strbuf_addstr(sb, a->image);
		return;
	}
	at = strchr(a->image, '@');
	strbuf_add(sb, a->image, (size_t)(at - a->image));
	slash = strrchr(sb->buf, '/');
	colon = strrchr(slash ? slash : sb->buf, ':');
	if (colon)
		strbuf_setlen(sb, (size_t)(colon - sb->buf));
	strbuf_addf(sb, "@%s", a->image_digest);
}

static const char *network_mode(enum appspec_network n)
{
	switch (n) {
	case APPSPEC_NET_HOST:
		return "host";
	case APPSPEC_NET_NONE:
		return "none";
	case APPSPEC_NET_PRIVATE:
		break;
	}
	return "bridge";
}

static void want_release(struct want *w)
{
	if (w->sources)
		for (size_t i = 0; i < w->cr.mount_count; i++)
			strbuf_release(&w->sources[i]);
	free(w->sources);
	free(w->mounts);
	strbuf_release(&w->image);
}

/* The container c's spec asks for in slot, and its config hash. */
static void want_init(struct want *w, const struct driver_ctx *c, int slot)
{
	const struct appspec *a = c->spec;
	struct strbuf body = STRBUF_INIT;

	memset(w, 0, sizeof(*w));
	slot_name(w->name, sizeof(w->name), c->app, slot);
	strbuf_init(&w->image, 128);
	image_ref(&w->image, a);
	w->cr.name = w->name;
	w->cr.image = w->image.buf;
	w->cr.cmd = a->exec.argc ? a->exec.argv : NULL;
	w->cr.env = a->env;
	w->cr.env_count = a->env_count;
	w->cr.user = a->user;
	w->cr.ports = a->ports;
	w->cr.port_count = a->port_count;
	w->cr.memory = a->limits.memory;
	w->cr.cpus = a->limits.cpu;
	w->cr.pids = a->limits.pids;
	w->cr.nofile = a->limits.nofile;
	w->cr.read_only = a->read_only;
	w->cr.privileged = a->privileged;
	w->cr.network = network_mode(a->network);
	w->mounts = xcalloc(a->volume_count + 1, sizeof(*w->mounts));
	w->sources = xcalloc(a->volume_count + 1, sizeof(*w->sources));
	for (size_t i = 0; i < a->volume_count; i++) {
		strbuf_init(&w->sources[i], 128);
		strbuf_addf(&w->sources[i], "%s/data/%s", slots_path(c->slots),
			    a->volumes[i].name);
		w->mounts[i].source = w->sources[i].buf;
		w->mounts[i].target = a->volumes[i].path;
		w->mounts[i].read_only = a->volumes[i].read_only;
	}
	w->cr.mounts = w->mounts;
	w->cr.mount_count = a->volume_count;
	engine_create_body(&body, &w->cr, 0);
	verify_sha256_hex(w->config, body.buf, body.len);
	strbuf_release(&body);
}

/* Whether e carries furrow's labels for app's slot. */
static int ours(const struct engine_container *e, const char *app, int slot)
{
	const char *a = engine_container_label(e, LABEL_APP),
		   *s = engine_container_label(e, LABEL_SLOT);

	return a && s && !strcmp(a, app) && s[0] == slot && !s[1];
}

static void describe_foreign(char *why, size_t size,
			     const struct engine_container *e, const char *app,
			     int slot)
{
	const char *a = engine_container_label(e, LABEL_APP);

	if (!a)
		snprintf(why, size, "container %s is not furrow's (no %s "
			 "label): replaced by hand?", e->name, LABEL_APP);
	else
		snprintf(why, size, "container %s is not furrow's for app %s "
			 "slot %c (labels %s=%.100s %s=%.10s)", e->name, app,
			 slot, LABEL_APP, a, LABEL_SLOT,
			 engine_container_label(e, LABEL_SLOT) ?
			 engine_container_label(e, LABEL_SLOT) : "(none)");
}

static int container_running(const struct driver_ctx *c, int slot, char *why,
			     size_t why_size)
{
	struct engine_container *e = NULL;
	char name[ENGINE_NAME_BYTES];
	int ret;

	slot_name(name, sizeof(name), c->app, slot);
	ret = engine_container_inspect(&e, sock(c), name);
	if (ret == FURROW_ENOENT) {
		error_clear();
		snprintf(why, why_size, "container %s does not exist", name);
		return 0;
	}
	if (ret)
		return error_prefix(ret, "app %s: slot %c", c->app, slot);
	if (!ours(e, c->app, slot)) {
		describe_foreign(why, why_size, e, c->app, slot);
		ret = 0;
	} else if (c->spec) {
		struct want w;
		const char *have = engine_container_label(e, LABEL_CONFIG);

		want_init(&w, c, slot);
		if (!have || strcmp(have, w.config)) {
			snprintf(why, why_size, "container %s was created from "
				 "another configuration than slot %c's", name,
				 slot);
			ret = 0;
		} else {
			ret = 1;
		}
		want_release(&w);
	} else {
		ret = 1;
	}
	if (ret == 1 && !e->running) {
		snprintf(why, why_size, "container %s is not running (%s, exit "
			 "code %d)", name, e->state[0] ? e->state : "stopped",
			 e->exit_code);
		ret = 0;
	}
	engine_container_free(e);
	return ret;
}

static void sleep_seconds(double s)
{
	struct timespec ts;

	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
}

/* The image is in the engine's store, pulled if it was not. */
/*
 * The X-Registry-Auth value: containers.registry_auth_file holds the
 * engine's AuthConfig as JSON ({"username", "password",
 * "serveraddress"} or {"identitytoken", "serveraddress"}); it goes out
 * base64url-encoded.  Read at every pull, so a rotated credential is
 * picked up; checked to be one JSON object; never logged.
 */
static int registry_auth(const struct driver_ctx *c, struct strbuf *out)
{
	const char *path = c->cfg->containers.registry_auth_file;
	struct strbuf text = STRBUF_INIT;
	struct value *v = NULL;
	int ret;

	if (!path)
		return 0;
	if ((ret = strbuf_read_file(&text, path, LIMIT_ENGINE_AUTH_BYTES)))
		goto out;
	if ((ret = json_parse(&v, path, text.buf, text.len,
			      LIMIT_ENGINE_AUTH_BYTES)))
		goto out;
	if (v->type != VALUE_TABLE) {
		ret = error_set(FURROW_EINVAL, "%s: a registry credential is "
				"one JSON object", path);
		goto out;
	}
	sshwire_base64_encode(out, text.buf, text.len, 1);
	for (size_t i = 0; i < out->len; i++)
		out->buf[i] = out->buf[i] == '+' ? '-' :
			      out->buf[i] == '/' ? '_' : out->buf[i];
out:
	if (ret)
		error_prefix(ret, "containers.registry_auth_file");
	value_free(v);
	strbuf_release(&text);
	return ret;
}

static int ensure_image(const struct driver_ctx *c, const char *ref)
{
	struct strbuf auth = STRBUF_INIT;
	struct backoff b;
	int ret, tries;

	ret = engine_image_present(sock(c), ref);
	if (ret)
		return ret < 0 ? ret : 0;
	if ((ret = registry_auth(c, &auth)))
		goto out;
	backoff_init(&b, LIMIT_ENGINE_BACKOFF_BASE, LIMIT_ENGINE_BACKOFF_CAP);
	for (tries = 1;; tries++) {
		log_event(LOG_INFO, "container.pull", ref, "app", c->app, NULL);
		ret = engine_image_pull(sock(c), ref,
					LIMIT_ENGINE_PULL_SECONDS * 1000u,
					LIMIT_ENGINE_PULL_IDLE_SECONDS * 1000u,
					auth.len ? auth.buf : NULL);
		if (!ret) {
			ret = engine_image_present(sock(c), ref);
			if (ret == 1) {
				ret = 0;
				goto out;
			}
			if (ret == 0)
				ret = error_set(FURROW_EIO, "pull of %s ended "
						"without an error, but the engine "
						"does not have the image", ref);
		}
		if (tries >= LIMIT_ENGINE_PULL_TRIES)
			break;
		log_event(LOG_WARN, "container.pull_failed", error_message(),
			  "app", c->app, NULL);
		sleep_seconds(backoff_next(&b));
	}
	error_prefix(ret, "%d pulls failed, the last one", tries);
out:
	strbuf_release(&auth);
	return ret;
}

/* The data directories the volumes mount. */
static int prepare_data(const struct driver_ctx *c, const struct want *w)
{
	struct strbuf p = STRBUF_INIT;
	const char *user = c->spec->user;
	uid_t uid = (uid_t)-1;
	int ret = 0;

	if (user && *user >= '0' && *user <= '9' && geteuid() == 0)
		uid = (uid_t)strtoul(user, NULL, 10);
	strbuf_addf(&p, "%s/data", slots_path(c->slots));
	if (mkdir(p.buf, 0750) < 0 && errno != EEXIST)
		ret = error_errno(FURROW_EIO, "app %s: cannot create data "
				  "directory %s", c->app, p.buf);
	for (size_t i = 0; !ret && i < w->cr.mount_count; i++) {
		const char *d = w->mounts[i].source;

		if (mkdir(d, 0750) < 0) {
			if (errno != EEXIST)
				ret = error_errno(FURROW_EIO, "app %s: cannot create "
						  "data directory %s", c->app, d);
			continue;   /* existing: its owner is left alone */
		}
		if (uid != (uid_t)-1 && lchown(d, uid, (gid_t)-1) < 0)
			ret = error_errno(FURROW_EIO, "app %s: cannot chown %s",
					  c->app, d);
	}
	strbuf_release(&p);
	return ret;
}

static int container_start(const struct driver_ctx *c, int slot)
{
	struct engine_container *e = NULL;
	struct slot_report rep;
	struct appspec_pair labels[5];
	char slot_s[2] = { (char)slot, 0 }, id[65];
	const char *commit, *spec;
	struct want w;
	int ret;

	if (!c->spec)
		return error_set(FURROW_EINVAL, "app %s: slot %c: no recorded "
				 "spec to start it from", c->app, slot);
	memset(&rep, 0, sizeof(rep));
	want_init(&w, c, slot);
	/* The slot's manifest says which version it holds. */
	if (slots_verify(c->slots, slot, &rep) || !rep.complete) {
		error_clear();
		commit = c->commit ? c->commit : "";
		spec = "";
	} else {
		commit = rep.commit;
		spec = rep.spec_sha256;
	}
	labels[0] = (struct appspec_pair){ (char *)LABEL_APP, (char *)c->app };
	labels[1] = (struct appspec_pair){ (char *)LABEL_COMMIT, (char *)commit };
	labels[2] = (struct appspec_pair){ (char *)LABEL_CONFIG, w.config };
	labels[3] = (struct appspec_pair){ (char *)LABEL_SLOT, slot_s };
	labels[4] = (struct appspec_pair){ (char *)LABEL_SPEC, (char *)spec };
	w.cr.labels = labels;
	w.cr.label_count = 5;

	ret = engine_container_inspect(&e, sock(c), w.name);
	if (ret == FURROW_ENOENT) {
		error_clear();
		ret = 0;
	} else if (ret) {
		goto out;
	} else if (!ours(e, c->app, slot)) {
		char why[512];

		describe_foreign(why, sizeof(why), e, c->app, slot);
		ret = error_set(FURROW_EINVAL, "app %s: slot %c: %s; furrow does "
				"not touch it: remove or rename it, and the next "
				"pass creates furrow's", c->app, slot, why);
		goto out_plain;
	} else {
		const char *have_cfg = engine_container_label(e, LABEL_CONFIG),
			   *have_commit = engine_container_label(e, LABEL_COMMIT),
			   *have_spec = engine_container_label(e, LABEL_SPEC);

		if (have_cfg && !strcmp(have_cfg, w.config) && have_commit &&
		    !strcmp(have_commit, commit) && have_spec &&
		    !strcmp(have_spec, spec)) {
			/* This version, stopped or running: a restart. */
			ret = e->running ? 0 : engine_container_start(sock(c), e->id);
			goto out;
		}
		/* Ours, an older version: replaced. */
		ret = engine_container_remove(sock(c), e->id, 1);
		if (ret == FURROW_ENOENT) {
			error_clear();
			ret = 0;
		}
		if (ret)
			goto out;
	}
	if ((ret = ensure_image(c, w.image.buf)) ||
	    (ret = prepare_data(c, &w)) ||
	    (ret = engine_container_create(sock(c), &w.cr, id)))
		goto out;
	log_event(LOG_INFO, "container.created", w.image.buf, "app", c->app,
		  "container", w.name, NULL);
	ret = engine_container_start(sock(c), id);
out:
	if (ret)
		error_prefix(ret, "app %s: slot %c", c->app, slot);
out_plain:
	engine_container_free(e);
	slot_report_release(&rep);
	want_release(&w);
	return ret;
}

static int container_stop(const struct driver_ctx *c, int slot)
{
	struct engine_container *e = NULL;
	char name[ENGINE_NAME_BYTES];
	double grace = ceil(c->cfg->apply.stop_timeout);
	int ret;

	slot_name(name, sizeof(name), c->app, slot);
	ret = engine_container_inspect(&e, sock(c), name);
	if (ret == FURROW_ENOENT) {
		error_clear();
		return 0;
	}
	if (ret)
		return error_prefix(ret, "app %s: stopping slot %c", c->app, slot);
	if (!ours(e, c->app, slot)) {
		char why[512];

		describe_foreign(why, sizeof(why), e, c->app, slot);
		log_event(LOG_WARN, "container.foreign", why, "app", c->app, NULL);
	} else if (e->running) {
		ret = engine_container_stop(sock(c), e->id,
					    grace > 0 ? (unsigned)grace : 0u);
		if (ret == FURROW_ENOENT) {
			error_clear();
			ret = 0;
		}
		if (ret)
			error_prefix(ret, "app %s: stopping slot %c", c->app, slot);
	}
	engine_container_free(e);
	return ret;
}

static int container_activate(const struct driver_ctx *c)
{
	(void)c;
	return 0;
}

/* Every container labelled furrow.app=<app>, whatever its name. */
static int container_remove(const struct driver_ctx *c)
{
	struct engine_container *list = NULL;
	struct strbuf label = STRBUF_INIT;
	size_t n = 0;
	int ret;

	strbuf_addf(&label, "%s=%s", LABEL_APP, c->app);
	ret = engine_container_list(&list, &n, sock(c), label.buf);
	for (size_t i = 0; !ret && i < n; i++) {
		const char *a = engine_container_label(&list[i], LABEL_APP);

		/* The engine filtered; this is furrow's own check. */
		if (!a || strcmp(a, c->app))
			continue;
		ret = engine_container_remove(sock(c), list[i].id, 1);
		if (ret == FURROW_ENOENT) {
			error_clear();
			ret = 0;
		}
		if (!ret)
			log_event(LOG_INFO, "container.removed", list[i].name,
				  "app", c->app, NULL);
	}
	if (ret)
		error_prefix(ret, "app %s: removing its containers", c->app);
	engine_container_list_free(list, n);
	strbuf_release(&label);
	return ret;
}

/* Pull before the update begins: a stalled or failed pull never
 * touches the running slot, also under stop-first. */
static int container_prepare(const struct driver_ctx *c)
{
	struct strbuf ref = STRBUF_INIT;
	int ret;

	image_ref(&ref, c->spec);
	ret = ensure_image(c, ref.buf);
	strbuf_release(&ref);
	return ret;
}

/* An exec health check, inside the slot's container (engine exec). */
static int container_exec(const struct driver_ctx *c, int slot,
			  char *const *argv, unsigned timeout_ms, int *exit_code,
			  char *out, size_t out_size)
{
	struct engine_exec_result r;
	char name[80];
	int ret;

	slot_name(name, sizeof(name), c->app, slot);
	ret = engine_exec(&r, sock(c), name, argv, timeout_ms);
	if (ret)
		return ret;
	*exit_code = r.exit_code;
	snprintf(out, out_size, "%.*s", (int)r.output_len, r.output);
	return 0;
}

const struct driver driver_container = {
	APPSPEC_CONTAINER, container_start, container_stop, container_running,
	container_activate, container_remove, container_prepare,
	container_exec,
};
