/*
 * driver_service.c - the `service` driver: a process furrow supervises
 * itself (core/supervise.h), run from the slot's files.
 *
 * Per app, next to the slots (apps/<app>/):
 *
 *   run/<slot>.pid     "<pid> <start time>", written by the service child
 *                      itself before it execs (supervise.h): who runs the
 *                      slot, across furrow restarts.  The only record of
 *                      the process; a pid whose start time differs is
 *                      someone else and is never signalled.
 *   log/<slot>/        current.log and rotated files (apply.log_max_bytes,
 *                      apply.log_keep)
 *   data/<name>/       the `data` directories, owned by the service user
 *
 * The service runs in its slot directory with the spec's env plus
 * FURROW_APP, FURROW_SLOT, FURROW_COMMIT and FURROW_DATA (the data root,
 * where it may also write an update lock, see core/updlock.h).  Two slots
 * of one app may run at once during a start-first update, so anything
 * that must be unique (a port) calls for strategy "stop-first".
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bug.h"
#include "config.h"
#include "driver.h"
#include "error.h"
#include "fileutil.h"
#include "slots.h"
#include "strbuf.h"
#include "supervise.h"
#include "banned.h"

static void pid_path(struct strbuf *sb, const struct driver_ctx *c, int slot)
{
	strbuf_addf(sb, "%s/run/%c.pid", slots_path(c->slots), slot);
}

/* The service user's uid/gid, or -1s for furrow's own. */
static int user_ids(const char *user, uid_t *uid, gid_t *gid)
{
	struct passwd *pw;
	char *end;
	unsigned long v;

	*uid = (uid_t)-1;
	*gid = (gid_t)-1;
	if (!user)
		return 0;
	errno = 0;
	v = strtoul(user, &end, 10);
	if (*user >= '0' && *user <= '9' && !*end && !errno) {
		pw = getpwuid((uid_t)v);
		*uid = (uid_t)v;
		*gid = pw ? pw->pw_gid : (gid_t)v;
		return 0;
	}
	pw = getpwnam(user);
	if (!pw)
		return error_set(FURROW_EINVAL, "service user %s: no such user",
				 user);
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

/* Make the data root and each named data directory, owned by the user
 * the service runs as (when furrow is root and the user is another). */
static int prepare_data(const struct driver_ctx *c, uid_t uid, gid_t gid)
{
	struct strbuf p = STRBUF_INIT;
	size_t base;
	int ret = 0;

	strbuf_addf(&p, "%s/data", slots_path(c->slots));
	base = p.len;
	for (size_t i = 0; !ret && i <= c->spec->volume_count; i++) {
		strbuf_setlen(&p, base);
		if (i > 0)
			strbuf_addf(&p, "/%s", c->spec->volumes[i - 1].name);
		if (mkdir(p.buf, 0750) < 0 && errno != EEXIST)
			ret = error_errno(FURROW_EIO, "app %s: cannot create "
					  "data directory %s", c->app, p.buf);
		else if (uid != (uid_t)-1 && geteuid() == 0 &&
			 lchown(p.buf, uid, gid) < 0)
			ret = error_errno(FURROW_EIO, "app %s: cannot chown %s",
					  c->app, p.buf);
	}
	strbuf_release(&p);
	return ret;
}

static int make_traversable(const struct driver_ctx *c)
{
	const char *dirs[3] = { c->cfg->state_dir, NULL, slots_path(c->slots) };
	struct strbuf apps = STRBUF_INIT;
	int ret = 0;

	strbuf_addf(&apps, "%s/apps", c->cfg->state_dir);
	dirs[1] = apps.buf;
	for (size_t i = 0; i < 3 && !ret; i++) {
		struct stat st;

		if (stat(dirs[i], &st) < 0 ||
		    ((st.st_mode & 0111) != 0111 &&
		     chmod(dirs[i], (st.st_mode & 07777) | 0111) < 0))
			ret = error_errno(FURROW_EIO, "app %s: cannot make %s "
					  "traversable for the service user",
					  c->app, dirs[i]);
	}
	strbuf_release(&apps);
	return ret;
}

static int current_proc(const struct driver_ctx *c, int slot,
			struct proc_id *id)
{
	struct strbuf p = STRBUF_INIT;
	int ret;

	pid_path(&p, c, slot);
	ret = supervise_read_pid_file(id, p.buf);
	strbuf_release(&p);
	return ret;
}

static int service_running(const struct driver_ctx *c, int slot, char *why,
			   size_t why_size)
{
	struct proc_id id;
	int status, ret = current_proc(c, slot, &id);

	if (ret == FURROW_ENOENT) {
		snprintf(why, why_size, "slot %c has no process", slot);
		return 0;
	}
	if (ret)
		return ret;
	/* Reaps it if it is our child and has exited. */
	if (supervise_poll(&id, &status))
		return 1;
	if (status >= 0 && WIFEXITED(status))
		snprintf(why, why_size, "slot %c exited with status %d", slot,
			 WEXITSTATUS(status));
	else if (status >= 0 && WIFSIGNALED(status))
		snprintf(why, why_size, "slot %c was killed by signal %d", slot,
			 WTERMSIG(status));
	else
		snprintf(why, why_size, "slot %c (pid %d) is not running", slot,
			 (int)id.pid);
	return 0;
}

static int service_start(const struct driver_ctx *c, int slot)
{
	const struct appspec *a = c->spec;
	struct strbuf dir = STRBUF_INIT, log = STRBUF_INIT, pid = STRBUF_INIT,
		      data = STRBUF_INIT;
	struct appspec_pair *env = NULL;
	struct supervise_spec s;
	struct proc_id id;
	char slot_name[2] = { (char)slot, 0 }, why[128];
	char k_app[] = "FURROW_APP", k_slot[] = "FURROW_SLOT",
	     k_commit[] = "FURROW_COMMIT", k_data[] = "FURROW_DATA";
	uid_t uid;
	gid_t gid;
	size_t n = 0;
	int ret;

	if (!a)
		return error_set(FURROW_EINVAL, "app %s: slot %c: no recorded "
				 "spec to start it from", c->app, slot);
	if ((ret = service_running(c, slot, why, sizeof(why))) != 0)
		return ret < 0 ? ret : 0;
	if ((ret = user_ids(a->user, &uid, &gid)))
		return ret;
	strbuf_addf(&dir, "%s/%c", slots_path(c->slots), slot);
	strbuf_addf(&log, "%s/log/%c", slots_path(c->slots), slot);
	strbuf_addf(&data, "%s/data", slots_path(c->slots));
	pid_path(&pid, c, slot);
	if ((ret = file_mkdirs(log.buf, 0750)))
		goto out;
	strbuf_setlen(&pid, pid.len - 6);    /* ".../run" */
	if ((ret = file_mkdirs(pid.buf, 0700)))
		goto out;
	strbuf_setlen(&pid, 0);
	pid_path(&pid, c, slot);
	if ((ret = prepare_data(c, uid, gid)))
		goto out;
	/* A service user must be able to reach its slot and data: the
	 * state directory, apps/ and the app directory become traversable
	 * (not listable) by others; the store and the rest stay 0700. */
	if (uid != (uid_t)-1 && geteuid() == 0 &&
	    (ret = make_traversable(c)))
		goto out;
	env = xcalloc(a->env_count + 4, sizeof(*env));
	for (size_t i = 0; i < a->env_count; i++)
		env[n++] = a->env[i];
	env[n++] = (struct appspec_pair){ k_app, (char *)c->app };
	env[n++] = (struct appspec_pair){ k_slot, slot_name };
	env[n++] = (struct appspec_pair){ k_commit,
					  (char *)(c->commit ? c->commit : "") };
	env[n++] = (struct appspec_pair){ k_data, data.buf };
	memset(&s, 0, sizeof(s));
	s.argv = (const char *const *)a->exec.argv;
	s.env = env;
	s.env_count = n;
	s.cwd = dir.buf;
	s.user = a->user;
	s.limits = a->limits;
	s.log_dir = log.buf;
	s.log_max_bytes = (unsigned long long)c->cfg->apply.log_max_bytes;
	s.log_keep = (unsigned)c->cfg->apply.log_keep;
	s.pid_file = pid.buf;
	ret = supervise_start(&id, &s);
	if (ret)
		error_prefix(ret, "app %s: slot %c", c->app, slot);
out:
	free(env);
	strbuf_release(&dir);
	strbuf_release(&log);
	strbuf_release(&pid);
	strbuf_release(&data);
	return ret;
}

static int service_stop(const struct driver_ctx *c, int slot)
{
	struct strbuf p = STRBUF_INIT;
	struct proc_id id;
	int ret = current_proc(c, slot, &id);

	if (ret == FURROW_ENOENT)
		return 0;
	if (ret)
		return ret;
	ret = supervise_stop(&id, (unsigned)(c->cfg->apply.stop_timeout * 1000));
	if (ret < 0)
		return error_prefix(ret, "app %s: stopping slot %c", c->app, slot);
	pid_path(&p, c, slot);
	if (unlink(p.buf) < 0 && errno != ENOENT)
		ret = error_errno(FURROW_EIO, "app %s: cannot remove %s", c->app,
				  p.buf);
	else
		ret = 0;
	strbuf_release(&p);
	return ret;
}

static int service_activate(const struct driver_ctx *c)
{
	(void)c;
	return 0;
}

static int service_remove(const struct driver_ctx *c)
{
	int ret = slots_remove_entry(c->slots, "run");

	return ret ? ret : slots_remove_entry(c->slots, "log");
}

const struct driver driver_service = {
	APPSPEC_SERVICE, service_start, service_stop, service_running,
	service_activate, service_remove, NULL, NULL,
};
