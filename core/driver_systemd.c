/*
 * driver_systemd.c - the `systemd` driver: an app whose workload is a
 * systemd service unit from the repository, run by the host's systemd.
 *
 * Each slot is its own unit, so that both can exist (and, for a
 * start-first update, run) at once:
 *
 *   /run/systemd/system/furrow-<app>-<slot>.service
 *                      a copy of the app's `unit` file as staged in the
 *                      slot (the unit must lie inside `files`; see below)
 *   /run/systemd/system/furrow-<app>-<slot>.service.d/furrow.conf
 *                      furrow's drop-in: WorkingDirectory= the slot
 *                      directory, Environment= FURROW_APP, FURROW_SLOT
 *                      and FURROW_DATA (the data root, as for a service)
 *
 * Why /run and not /etc: these are runtime units.  They vanish at reboot
 * like a supervised service's process does, and furrow's next pass puts
 * the active slot back (drift repair), from the slot it staged; nothing
 * furrow wrote outlives its own state directory across a reboot, and no
 * half-switched pair of units in /etc can start by itself before furrow
 * has looked at its journal.  The units are never enabled: furrow starts
 * and stops them.  /etc/systemd/system has precedence over /run, so a
 * unit of the same name there would hide ours: start() checks the
 * FragmentPath systemd loaded and refuses anything but ours.
 *
 * The unit file is copied, not linked: systemd treats a symlink to a
 * file of another name as an alias, and a copy keeps the unit a slot was
 * started with even while the other slot is being restaged.  A stopped
 * slot keeps its unit (rollback is a start, not a restage); remove()
 * deletes both slots' units and drop-ins.  Only the two names
 * furrow-<app>-a.service and furrow-<app>-b.service are ever written,
 * started, stopped or deleted.
 *
 * systemctl runs as a child (fork and execve, no shell) with a fixed
 * environment, a deadline (LIMIT_SYSTEMCTL_MS, then SIGKILL of its
 * process group) and a cap on the output kept
 * (LIMIT_SYSTEMCTL_OUTPUT_BYTES).  start and stop wait for systemd's
 * job, so a unit that fails to start is an error with systemd's words.
 *
 * Where the unit comes from: the engine stages the app's `files`
 * directory into the slot and nothing else, so `unit` must be a path
 * inside `files` (files = "units/agent", unit = "units/agent/agent.
 * service").  Otherwise start() refuses with a message saying so.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "monoclock.h"
#include "bug.h"
#include "driver.h"
#include "error.h"
#include "fileutil.h"
#include "limits.h"
#include "slots.h"
#include "strbuf.h"
#include "banned.h"

#define UNIT_DIR "/run/systemd/system"
#define DROPIN_NAME "furrow.conf"

/* ---- running systemctl ---- */

/* Read what fd has now into out, keeping at most cap bytes in all.
 * Returns 1 at end of file or on an error, else 0. */
static int drain(int fd, struct strbuf *out, size_t cap)
{
	char chunk[4096];

	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno != EAGAIN;
		if (n == 0)
			return 1;
		if (out->len < cap)
			strbuf_add(out, chunk, (size_t)n < cap - out->len ?
				   (size_t)n : cap - out->len);
	}
}

/*
 * Run `systemctl --no-pager --no-ask-password ARGS...` (args ends with
 * NULL).  Its stdout and stderr go to out (at most
 * LIMIT_SYSTEMCTL_OUTPUT_BYTES, the rest is read and dropped).  Returns
 * its exit status (0..255), or FURROW_ETIMEOUT (killed at the deadline),
 * FURROW_ERR (killed by a signal) or FURROW_EIO (could not run it), with
 * the message recorded.
 */
static int systemctl(struct strbuf *out, const char *const *args)
{
	static const char *const paths[] = { "/usr/bin/systemctl",
					     "/bin/systemctl" };
	static char *const envp[] = {
		(char *)"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
		(char *)"LC_ALL=C", (char *)"SYSTEMD_PAGER=",
		(char *)"SYSTEMD_COLORS=0", NULL,
	};
	const char *argv[16];
	size_t argc = 0;
	int pfd[2] = { -1, -1 }, devnull = -1, eof = 0, exited = 0,
	    status = 0, ret;
	double deadline;
	pid_t pid;

	argv[argc++] = "systemctl";
	argv[argc++] = "--no-pager";
	argv[argc++] = "--no-ask-password";
	for (size_t i = 0; args[i]; i++) {
		if (argc + 2 > sizeof(argv) / sizeof(*argv))
			BUG("systemctl: too many arguments");
		argv[argc++] = args[i];
	}
	argv[argc] = NULL;
	strbuf_setlen(out, 0);
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		ret = error_errno(FURROW_EIO, "systemctl %s: pipe", args[0]);
		goto out;
	}
	if ((devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
		ret = error_errno(FURROW_EIO, "systemctl %s: /dev/null", args[0]);
		goto out;
	}
	deadline = monoclock_now() + LIMIT_SYSTEMCTL_MS / 1000.0;
	pid = fork();
	if (pid < 0) {
		ret = error_errno(FURROW_EIO, "systemctl %s: fork", args[0]);
		goto out;
	}
	if (pid == 0) {
		/* Only async-signal-safe calls from here to exec. */
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		setpgid(0, 0);
		if (dup2(devnull, 0) < 0 || dup2(pfd[1], 1) < 0 ||
		    dup2(pfd[1], 2) < 0)
			_exit(126);
		for (size_t i = 0; i < sizeof(paths) / sizeof(*paths); i++)
			execve(paths[i], (char *const *)argv, envp);
		{
			static const char m[] = "cannot run systemctl\n";

			(void)!write(2, m, sizeof(m) - 1);
		}
		_exit(127);
	}
	setpgid(pid, pid);
	close(pfd[1]);
	pfd[1] = -1;
	fcntl(pfd[0], F_SETFL, O_NONBLOCK);
	for (;;) {
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		double left;

		if (!eof)
			eof = drain(pfd[0], out, LIMIT_SYSTEMCTL_OUTPUT_BYTES);
		if (waitpid(pid, &status, WNOHANG) == pid) {
			exited = 1;
			break;
		}
		left = deadline - monoclock_now();
		if (left <= 0)
			break;
		if (left > 0.05 || eof)
			left = 0.05;
		if (eof)
			poll(NULL, 0, (int)(left * 1000.0) + 1);
		else
			poll(&p, 1, (int)(left * 1000.0) + 1);
	}
	if (!exited) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		ret = error_set(FURROW_ETIMEOUT, "systemctl %s: no answer "
				"within %u s (LIMIT_SYSTEMCTL_MS)", args[0],
				LIMIT_SYSTEMCTL_MS / 1000u);
		goto out;
	}
	if (!eof)
		drain(pfd[0], out, LIMIT_SYSTEMCTL_OUTPUT_BYTES);
	if (WIFSIGNALED(status))
		ret = error_set(FURROW_ERR, "systemctl %s: killed by signal %d",
				args[0], WTERMSIG(status));
	else
		ret = WEXITSTATUS(status);
	if (ret == 127)
		ret = error_set(FURROW_EIO, "systemctl %s: cannot run "
				"systemctl (not installed?)", args[0]);
out:
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	if (devnull >= 0)
		close(devnull);
	return ret;
}

/* systemctl's output as one line for a message: control characters
 * become spaces, trailing space goes, at most 400 bytes. */
static const char *one_line(struct strbuf *sb)
{
	for (size_t i = 0; i < sb->len; i++)
		if ((unsigned char)sb->buf[i] < 0x20 || sb->buf[i] == 0x7f)
			sb->buf[i] = ' ';
	if (sb->len > 400)
		strbuf_setlen(sb, 400);
	while (sb->len && sb->buf[sb->len - 1] == ' ')
		strbuf_setlen(sb, sb->len - 1);
	return sb->buf;
}

/* Run systemctl VERB NAME...; 0 when it exits 0, else an error naming
 * the verb, the app and what systemctl said. */
static int systemctl_ok(const char *app, const char *const *args)
{
	struct strbuf out = STRBUF_INIT;
	const char *what = args[1] && !strcmp(args[1], "--") ? args[2] : args[1];
	int ret = systemctl(&out, args);

	if (ret > 0)
		ret = error_set(FURROW_ERR, "app %s: systemctl %s%s%s failed "
				"(exit %d): %s", app, args[0], what ? " " : "",
				what ? what : "", ret, one_line(&out));
	else if (ret < 0)
		error_prefix(ret, "app %s", app);
	strbuf_release(&out);
	return ret;
}

/* ---- units ---- */

/* Is systemd the init system here?  (sd_booted()'s test.) */
static int systemd_booted(void)
{
	struct stat st;

	return lstat(UNIT_DIR, &st) == 0 && S_ISDIR(st.st_mode);
}

static void unit_name(struct strbuf *sb, const char *app, int slot)
{
	strbuf_addf(sb, "furrow-%s-%c.service", app, slot);
}

static void unit_path(struct strbuf *sb, const char *app, int slot)
{
	strbuf_addstr(sb, UNIT_DIR "/");
	unit_name(sb, app, slot);
}

/* What systemd says about a unit (systemctl show). */
struct unit_state {
	char load[32];        /* loaded, not-found, bad-setting, error, ... */
	char active[32];      /* active, inactive, failed, activating, ... */
	char sub[32];         /* running, dead, exited, auto-restart, ... */
	char result[32];      /* success, exit-code, signal, ... */
	int need_reload;      /* NeedDaemonReload=yes */
	char fragment[512];   /* FragmentPath: the file systemd loaded */
	char load_error[256]; /* LoadError, for a unit that did not load */
};

static void copy_value(char *dst, size_t size, const char *v, size_t len)
{
	if (len >= size)
		len = size - 1;
	memcpy(dst, v, len);
	dst[len] = 0;
}

static int unit_show(struct unit_state *st, const char *app, int slot)
{
	static const char props[] = "--property=LoadState,ActiveState,"
		"SubState,Result,NeedDaemonReload,FragmentPath,LoadError";
	struct strbuf name = STRBUF_INIT, out = STRBUF_INIT;
	const char *args[] = { "show", props, "--", NULL, NULL };
	const char *line, *eol;
	int ret;

	memset(st, 0, sizeof(*st));
	unit_name(&name, app, slot);
	args[3] = name.buf;
	ret = systemctl(&out, args);
	if (ret > 0)
		ret = error_set(FURROW_ERR, "app %s: systemctl show %s failed "
				"(exit %d): %s", app, name.buf, ret,
				one_line(&out));
	else if (ret < 0)
		error_prefix(ret, "app %s", app);
	for (line = out.buf; !ret && *line; line = *eol ? eol + 1 : eol) {
		const char *eq = strchr(line, '=');

		eol = strchrnul(line, '\n');
		if (!eq || eq > eol)
			continue;
#define PROP(key, field) \
		if ((size_t)(eq - line) == sizeof(key) - 1 && \
		    !memcmp(line, key, sizeof(key) - 1)) \
			copy_value(st->field, sizeof(st->field), eq + 1, \
				   (size_t)(eol - eq - 1))
		PROP("LoadState", load);
		PROP("ActiveState", active);
		PROP("SubState", sub);
		PROP("Result", result);
		PROP("FragmentPath", fragment);
		PROP("LoadError", load_error);
#undef PROP
		if (!strncmp(line, "NeedDaemonReload=yes", 20))
			st->need_reload = 1;
	}
	if (!ret && !st->load[0])
		ret = error_set(FURROW_ERR, "app %s: systemctl show %s gave no "
				"LoadState", app, name.buf);
	strbuf_release(&name);
	strbuf_release(&out);
	return ret;
}

/* Up, or on its way: systemd runs it or is restarting it. */
static int state_running(const struct unit_state *st)
{
	return !strcmp(st->active, "active") ||
	       !strcmp(st->active, "reloading") ||
	       !strcmp(st->active, "activating");
}

/* Nothing to stop. */
static int state_down(const struct unit_state *st)
{
	return !strcmp(st->active, "inactive") || !strcmp(st->active, "failed");
}

static int daemon_reload(const char *app)
{
	const char *args[] = { "daemon-reload", NULL };

	return systemctl_ok(app, args);
}

static int unit_verb(const char *app, int slot, const char *verb)
{
	struct strbuf name = STRBUF_INIT;
	const char *args[] = { verb, "--", NULL, NULL };
	int ret;

	unit_name(&name, app, slot);
	args[2] = name.buf;
	ret = systemctl_ok(app, args);
	strbuf_release(&name);
	return ret;
}

/* ---- what start() writes ---- */

/* Where the unit file lies in a slot: its path below `files`. */
static int unit_in_slot(const char **rel, const struct driver_ctx *c)
{
	const struct appspec *a = c->spec;
	size_t n;

	if (!a->unit)
		return error_set(FURROW_EINVAL, "app %s: no unit file", c->app);
	if (!a->files)
		return error_set(FURROW_EINVAL, "app %s: unit %s is installed "
				 "from the app's files, and the app has none: "
				 "set files to the repository directory that "
				 "holds the unit", c->app, a->unit);
	n = strlen(a->files);
	if (strncmp(a->unit, a->files, n) || a->unit[n] != '/')
		return error_set(FURROW_EINVAL, "app %s: unit %s is not inside "
				 "files (%s): only the files directory is "
				 "installed into a slot; move the unit there",
				 c->app, a->unit, a->files);
	*rel = a->unit + n + 1;
	return 0;
}

/* Append s to a unit file setting: `%` doubled (systemd specifiers);
 * quoted, `"` and `\` escaped too.  Control characters are refused. */
static int add_unit_str(struct strbuf *sb, const char *s, int quoted,
			const char *app)
{
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return error_set(FURROW_EINVAL, "app %s: %s holds a "
					 "control character; systemd cannot be "
					 "given it", app, s);
	if (quoted)
		strbuf_addch(sb, '"');
	for (const char *p = s; *p; p++) {
		if (*p == '%')
			strbuf_addch(sb, '%');
		else if (quoted && (*p == '"' || *p == '\\'))
			strbuf_addch(sb, '\\');
		strbuf_addch(sb, *p);
	}
	if (quoted)
		strbuf_addch(sb, '"');
	return 0;
}

/*
 * The drop-in.  Nothing in it depends on the operation that starts the
 * slot (no commit: a revert restarts the old slot without knowing it),
 * so it reads the same every time for a slot and a rewrite means the
 * slot's content changed.
 */
static int dropin_text(struct strbuf *sb, const struct driver_ctx *c, int slot)
{
	struct strbuf v = STRBUF_INIT;
	int ret;

	strbuf_addf(sb, "# Written by furrow for app %s, slot %c: replaced at "
		    "every start, removed with the app.\n[Service]\n"
		    "WorkingDirectory=", c->app, slot);
	strbuf_addf(&v, "%s/%c", slots_path(c->slots), slot);
	if ((ret = add_unit_str(sb, v.buf, 0, c->app)))
		goto out;
	strbuf_addstr(sb, "\nEnvironment=");
	strbuf_setlen(&v, 0);
	strbuf_addf(&v, "FURROW_APP=%s", c->app);
	add_unit_str(sb, v.buf, 1, c->app);
	strbuf_setlen(&v, 0);
	strbuf_addf(&v, "FURROW_SLOT=%c", slot);
	strbuf_addch(sb, ' ');
	add_unit_str(sb, v.buf, 1, c->app);
	strbuf_setlen(&v, 0);
	strbuf_addf(&v, "FURROW_DATA=%s/data", slots_path(c->slots));
	strbuf_addch(sb, ' ');
	ret = add_unit_str(sb, v.buf, 1, c->app);
	strbuf_addch(sb, '\n');
out:
	strbuf_release(&v);
	return ret;
}

/* Make path hold data: 1 if it was written, 0 if it already did, or an
 * error. */
static int put_file(const char *path, const struct strbuf *data)
{
	struct strbuf old = STRBUF_INIT;
	struct stat st;
	int same, ret;

	same = lstat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	       !strbuf_read_file(&old, path, LIMIT_SYSTEMD_UNIT_BYTES + 4096) &&
	       old.len == data->len && !memcmp(old.buf, data->buf, data->len);
	error_clear();
	strbuf_release(&old);
	if (same)
		return 0;
	ret = file_write_atomic(path, data->buf, data->len, 0644);
	return ret ? ret : 1;
}

/* The data root and each named data directory (as a service's). */
static int prepare_data(const struct driver_ctx *c)
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
	}
	strbuf_release(&p);
	return ret;
}

/* Write slot's unit and drop-in: 1 if either changed, 0 if not, or an
 * error. */
static int install_unit(const struct driver_ctx *c, int slot)
{
	struct strbuf src = STRBUF_INIT, unit = STRBUF_INIT, path = STRBUF_INIT,
		      dropin = STRBUF_INIT;
	const char *rel = NULL;
	int ret, changed = 0;

	if ((ret = unit_in_slot(&rel, c)))
		goto out;
	strbuf_addf(&src, "%s/%c/%s", slots_path(c->slots), slot, rel);
	ret = strbuf_read_file(&unit, src.buf, LIMIT_SYSTEMD_UNIT_BYTES);
	if (ret == FURROW_ENOENT)
		ret = error_set(FURROW_ENOENT, "app %s: slot %c has no unit "
				"file %s (%s in the repository)", c->app, slot,
				rel, c->spec->unit);
	if (ret || (ret = dropin_text(&dropin, c, slot)))
		goto out;
	unit_path(&path, c->app, slot);
	if ((ret = put_file(path.buf, &unit)) < 0)
		goto out;
	changed |= ret;
	strbuf_addstr(&path, ".d");
	if (mkdir(path.buf, 0755) < 0 && errno != EEXIST) {
		ret = error_errno(FURROW_EIO, "app %s: cannot create %s",
				  c->app, path.buf);
		goto out;
	}
	strbuf_addstr(&path, "/" DROPIN_NAME);
	if ((ret = put_file(path.buf, &dropin)) < 0)
		goto out;
	changed |= ret;
	ret = changed;
out:
	strbuf_release(&src);
	strbuf_release(&unit);
	strbuf_release(&path);
	strbuf_release(&dropin);
	return ret;
}

/* ---- the driver ---- */

static int not_booted(const char *app)
{
	return error_set(FURROW_EINVAL, "app %s: systemd is not running on "
			 "this host (no " UNIT_DIR ")", app);
}

static int systemd_start(const struct driver_ctx *c, int slot)
{
	struct strbuf path = STRBUF_INIT;
	struct unit_state st;
	int changed = 0, ret;

	if (!c->spec)
		return error_set(FURROW_EINVAL, "app %s: slot %c: no recorded "
				 "spec to start it from", c->app, slot);
	if (!systemd_booted())
		return not_booted(c->app);
	if ((ret = prepare_data(c)) || (changed = ret = install_unit(c, slot)) < 0)
		goto out;
	if ((ret = unit_show(&st, c->app, slot)))
		goto out;
	if (changed || st.need_reload || strcmp(st.load, "loaded")) {
		if ((ret = daemon_reload(c->app)) ||
		    (ret = unit_show(&st, c->app, slot)))
			goto out;
	}
	unit_path(&path, c->app, slot);
	if (strcmp(st.load, "loaded")) {
		ret = error_set(FURROW_EINVAL, "app %s: unit %s did not load "
				"(%s)%s%s", c->app, c->spec->unit, st.load,
				st.load_error[0] ? ": " : "", st.load_error);
		goto out;
	}
	if (strcmp(st.fragment, path.buf)) {
		ret = error_set(FURROW_EINVAL, "app %s: systemd loads %s from "
				"%s, not from furrow's %s; refusing to run it "
				"(remove that file)", c->app, path.buf + sizeof(UNIT_DIR),
				st.fragment, path.buf);
		goto out;
	}
	/* Running the same unit: done.  Running an older content of the
	 * slot (restaged since): restart it. */
	if (state_running(&st) && !changed)
		ret = 0;
	else
		ret = unit_verb(c->app, slot, state_running(&st) ? "restart" :
				"start");
out:
	strbuf_release(&path);
	return ret;
}

static int systemd_stop(const struct driver_ctx *c, int slot)
{
	struct unit_state st;
	int ret;

	if (!systemd_booted())
		return 0;   /* nothing of it can be running */
	if ((ret = unit_show(&st, c->app, slot)))
		return ret;
	if (state_down(&st))
		return 0;
	/* systemctl waits for the unit's own stop timeout (TimeoutStopSec,
	 * then SIGKILL): apply.stop_timeout is a service's, not a unit's. */
	return unit_verb(c->app, slot, "stop");
}

static int systemd_running(const struct driver_ctx *c, int slot, char *why,
			   size_t why_size)
{
	struct unit_state st;
	int ret;

	if (!systemd_booted()) {
		snprintf(why, why_size, "systemd is not running on this host");
		return 0;
	}
	if ((ret = unit_show(&st, c->app, slot)))
		return ret;
	if (!strcmp(st.load, "not-found") && state_down(&st)) {
		snprintf(why, why_size, "unit furrow-%s-%c.service is not "
			 "installed", c->app, slot);
		return 0;
	}
	if (state_running(&st))
		return 1;
	snprintf(why, why_size, "unit furrow-%s-%c.service is %s (%s%s%s)",
		 c->app, slot, st.active, st.sub, st.result[0] ? ", result " :
		 "", st.result);
	return 0;
}

static int systemd_activate(const struct driver_ctx *c)
{
	(void)c;
	return 0;
}

/* Remove path; 1 if it was there, 0 if not, or an error. */
static int remove_path(const char *app, const char *path)
{
	if (unlink(path) == 0)
		return 1;
	if (errno == ENOENT)
		return 0;
	return error_errno(FURROW_EIO, "app %s: cannot remove %s", app, path);
}

static int systemd_remove(const struct driver_ctx *c)
{
	struct strbuf path = STRBUF_INIT, a = STRBUF_INIT, b = STRBUF_INIT;
	int removed = 0, ret = 0;

	if (!systemd_booted())
		return 0;
	for (int slot = 'a'; !ret && slot <= 'b'; slot++) {
		size_t base;

		if ((ret = systemd_stop(c, slot)))
			break;
		strbuf_setlen(&path, 0);
		unit_path(&path, c->app, slot);
		base = path.len;
		strbuf_addstr(&path, ".d/" DROPIN_NAME);
		if ((ret = remove_path(c->app, path.buf)) < 0)
			break;
		removed |= ret;
		ret = 0;
		strbuf_setlen(&path, base + 2);
		/* Only if empty: a drop-in someone else put there stays. */
		if (rmdir(path.buf) < 0 && errno != ENOENT && errno != ENOTEMPTY)
			ret = error_errno(FURROW_EIO, "app %s: cannot remove %s",
					  c->app, path.buf);
		strbuf_setlen(&path, base);
		if (ret || (ret = remove_path(c->app, path.buf)) < 0)
			break;
		removed |= ret;
		ret = 0;
	}
	if (!ret && removed)
		ret = daemon_reload(c->app);
	if (!ret) {
		/* A unit that failed stays listed until this; it may not be
		 * loaded at all any more (an error we do not need). */
		struct strbuf out = STRBUF_INIT;
		const char *args[] = { "reset-failed", "--", NULL, NULL, NULL };

		unit_name(&a, c->app, 'a');
		unit_name(&b, c->app, 'b');
		args[2] = a.buf;
		args[3] = b.buf;
		if (systemctl(&out, args) < 0)
			error_clear();
		strbuf_release(&out);
	}
	strbuf_release(&path);
	strbuf_release(&a);
	strbuf_release(&b);
	return ret;
}

const struct driver driver_systemd = {
	APPSPEC_SYSTEMD, systemd_start, systemd_stop, systemd_running,
	systemd_activate, systemd_remove, NULL, NULL,
};
