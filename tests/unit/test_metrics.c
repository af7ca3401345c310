/*
 * test_metrics.c - the Prometheus textfile (core/metrics.c): the exact
 * text for a crafted store (applied records, runtime records, a last
 * pass, `current` links, counters from recorded passes), escaping of
 * label values, counters that forget removed apps and survive an
 * unreadable record, the file's mode and atomic replacement under a
 * concurrent reader, and `promtool check metrics` when it is installed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "apply.h"
#include "apply_state.h"
#include "build_rev.h"
#include "config.h"
#include "error.h"
#include "fileutil.h"
#include "metrics.h"
#include "plan.h"
#include "store.h"
#include "strbuf.h"
#include "tap.h"
#include "value.h"
#include "banned.h"

#define ODD "q\"b\\s\nl"   /* an app name no furrow.lua allows: q"b\s<NL>l */
#define ODD_LABEL "q\\\"b\\\\s\\nl"

static char sha[65], commit[41];

static void link_current(const char *state, const char *app, const char *slot)
{
	struct strbuf p = STRBUF_INIT;

	strbuf_addf(&p, "%s/apps/%s", state, app);
	if (file_mkdirs(p.buf, 0700))
		tap_diag("mkdirs %s: %s", p.buf, error_message());
	strbuf_addstr(&p, "/current");
	if (symlink(slot, p.buf))
		tap_diag("symlink %s: %s", p.buf, strerror(errno));
	strbuf_release(&p);
}

static void put_rt(struct store *st, const char *app, const char *health,
		   long long restarts, long long repairs, int held)
{
	struct app_runtime rt;

	memset(&rt, 0, sizeof(rt));
	snprintf(rt.health, sizeof(rt.health), "%s", health);
	rt.restarts = restarts;
	rt.drift_repairs = repairs;
	if (held) {
		snprintf(rt.held_spec, sizeof(rt.held_spec), "%s", sha);
		snprintf(rt.held_commit, sizeof(rt.held_commit), "%s", commit);
		rt.held_at = 900;
		snprintf(rt.held_reason, sizeof(rt.held_reason), "unhealthy");
	}
	if (runtime_put(st, app, &rt))
		tap_diag("runtime_put %s: %s", app, error_message());
}

/* A pass result with apps named in pairs "name", outcome. */
static void result_of(struct apply_result *r, struct apply_app *apps,
		      size_t n)
{
	memset(r, 0, sizeof(*r));
	r->apps = apps;
	r->count = n;
}

static int record(struct store *st, int ok, double seconds, long long now,
		  const struct apply_result *r)
{
	struct metrics_pass p = { seconds, ok, now, r };

	return metrics_record_pass(st, &p);
}

/* The text up to the process's own memory, which varies: the caller
 * checks that part apart. */
static const char *split_rss(const char *text, long long *rss)
{
	const char *h = strstr(text, "# HELP furrow_process_resident_bytes ");
	const char *v;

	*rss = -1;
	if (!h || !(v = strstr(h, "\nfurrow_process_resident_bytes ")))
		return NULL;
	*rss = strtoll(v + strlen("\nfurrow_process_resident_bytes "), NULL, 10);
	return h;
}

static const char expected_head[] =
	"# HELP furrow_build_info Version and git revision of this furrow; always 1.\n"
	"# TYPE furrow_build_info gauge\n"
	"furrow_build_info{version=\"" FURROW_VERSION "\",revision=\""
	FURROW_GIT_REV "\"} 1\n"
	"# HELP furrow_passes_total Apply passes attempted.\n"
	"# TYPE furrow_passes_total counter\n"
	"furrow_passes_total 3\n"
	"# HELP furrow_pass_failures_total Apply passes that stopped before applying anything.\n"
	"# TYPE furrow_pass_failures_total counter\n"
	"furrow_pass_failures_total 1\n"
	"# HELP furrow_pass_duration_seconds Wall time of the last pass.\n"
	"# TYPE furrow_pass_duration_seconds gauge\n"
	"furrow_pass_duration_seconds 1.25\n"
	"# HELP furrow_last_pass_exit_code Exit class of the last pass: 0 converged, 1 error, 3 verification failed, 4 deferred, 5 rolled back.\n"
	"# TYPE furrow_last_pass_exit_code gauge\n"
	"furrow_last_pass_exit_code 3\n"
	"# HELP furrow_last_success_timestamp_seconds End of the last pass that ran, in epoch seconds; 0 never.\n"
	"# TYPE furrow_last_success_timestamp_seconds gauge\n"
	"furrow_last_success_timestamp_seconds 1200\n"
	"# HELP furrow_fetch_failures_total Passes whose fetch of the desired state failed.\n"
	"# TYPE furrow_fetch_failures_total counter\n"
	"furrow_fetch_failures_total 1\n"
	"# HELP furrow_verify_failures_total Passes whose fetched commit did not verify.\n"
	"# TYPE furrow_verify_failures_total counter\n"
	"furrow_verify_failures_total 1\n"
	"# HELP furrow_applied_serial Serial of the commit the last pass applied.\n"
	"# TYPE furrow_applied_serial gauge\n"
	"furrow_applied_serial 7\n"
	"# HELP furrow_commit_age_seconds Age of the accepted commit (by its committer time).\n"
	"# TYPE furrow_commit_age_seconds gauge\n"
	"furrow_commit_age_seconds 3600\n"
	"# HELP furrow_app_healthy 1 if the app's last health verdict was healthy, else 0.\n"
	"# TYPE furrow_app_healthy gauge\n"
	"furrow_app_healthy{app=\"db\"} 0\n"
	"furrow_app_healthy{app=\"" ODD_LABEL "\"} 0\n"
	"furrow_app_healthy{app=\"web\"} 1\n"
	"# HELP furrow_app_active_slot 1 for the slot an app runs from (apps/APP/current), else 0.\n"
	"# TYPE furrow_app_active_slot gauge\n"
	"furrow_app_active_slot{app=\"db\",slot=\"a\"} 1\n"
	"furrow_app_active_slot{app=\"db\",slot=\"b\"} 0\n"
	"furrow_app_active_slot{app=\"" ODD_LABEL "\",slot=\"a\"} 0\n"
	"furrow_app_active_slot{app=\"" ODD_LABEL "\",slot=\"b\"} 0\n"
	"furrow_app_active_slot{app=\"web\",slot=\"a\"} 0\n"
	"furrow_app_active_slot{app=\"web\",slot=\"b\"} 1\n"
	"# HELP furrow_app_held 1 while an update that failed is held (not retried).\n"
	"# TYPE furrow_app_held gauge\n"
	"furrow_app_held{app=\"db\"} 1\n"
	"furrow_app_held{app=\"" ODD_LABEL "\"} 0\n"
	"furrow_app_held{app=\"web\"} 0\n"
	"# HELP furrow_rollbacks_total Updates that failed to start or get healthy and were switched back.\n"
	"# TYPE furrow_rollbacks_total counter\n"
	"furrow_rollbacks_total{app=\"db\"} 0\n"
	"furrow_rollbacks_total{app=\"ghost\"} 1\n"
	"furrow_rollbacks_total{app=\"" ODD_LABEL "\"} 0\n"
	"furrow_rollbacks_total{app=\"web\"} 2\n"
	"# HELP furrow_drift_repairs_total Drift found in an app and repaired.\n"
	"# TYPE furrow_drift_repairs_total counter\n"
	"furrow_drift_repairs_total{app=\"db\"} 3\n"
	"furrow_drift_repairs_total{app=\"" ODD_LABEL "\"} 0\n"
	"furrow_drift_repairs_total{app=\"web\"} 1\n"
	"# HELP furrow_service_restarts_total Times a service that had stopped was started again.\n"
	"# TYPE furrow_service_restarts_total counter\n"
	"furrow_service_restarts_total{app=\"db\"} 0\n"
	"furrow_service_restarts_total{app=\"" ODD_LABEL "\"} 0\n"
	"furrow_service_restarts_total{app=\"web\"} 2\n"
	"# HELP furrow_outbox_items Reports and events waiting to be sent.\n"
	"# TYPE furrow_outbox_items gauge\n"
	"furrow_outbox_items 4\n"
	"# HELP furrow_outbox_bytes Size of the bodies waiting to be sent.\n"
	"# TYPE furrow_outbox_bytes gauge\n"
	"furrow_outbox_bytes 512\n"
	"# HELP furrow_outbox_dropped_total Outbox items dropped to stay within its bounds, by kind.\n"
	"# TYPE furrow_outbox_dropped_total counter\n"
	"furrow_outbox_dropped_total{kind=\"heartbeat\"} 9\n"
	"furrow_outbox_dropped_total{kind=\"report\"} 1\n"
	"furrow_outbox_dropped_total{kind=\"event\"} 0\n"
	"# HELP furrow_outbox_dead_letters_total Outbox items the receiver refused for good.\n"
	"# TYPE furrow_outbox_dead_letters_total counter\n"
	"furrow_outbox_dead_letters_total 2\n";

static const char expected_rss_head[] =
	"# HELP furrow_process_resident_bytes Resident memory of the furrow process that wrote this.\n"
	"# TYPE furrow_process_resident_bytes gauge\n"
	"furrow_process_resident_bytes ";

/* Whether text is one whole rendering: the first family first, the
 * last line last and complete. */
static int whole(const char *text, size_t len)
{
	const char *last;

	if (len < 100 || text[len - 1] != '\n' ||
	    strncmp(text, "# HELP furrow_build_info ", 25))
		return 0;
	last = text + len - 1;
	while (last > text && last[-1] != '\n')
		last--;
	return !strncmp(last, "furrow_process_resident_bytes ", 30) &&
	       strstr(text, "\nfurrow_commit_age_seconds ") != NULL;
}

/* Child: read the file until told to stop (stop_fd readable or
 * closed); exit 0 if every read was a whole rendering, 1 if one was
 * not, 2 if the file could not be opened.  No store here (store.h: no
 * use after fork). */
static void reader(const char *path, int stop_fd)
{
	char *buf = malloc(1 << 20);
	unsigned long reads = 0;
	int bad = 0;

	if (!buf)
		_exit(3);
	fcntl(stop_fd, F_SETFL, O_NONBLOCK);
	for (;;) {
		char c;
		ssize_t n = read(stop_fd, &c, 1);
		size_t len = 0;
		int fd;

		if (n == 0 || n == 1)
			break;
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			_exit(2);
		while ((n = read(fd, buf + len, (1 << 20) - 1 - len)) > 0)
			len += (size_t)n;
		close(fd);
		buf[len] = 0;
		reads++;
		if (!whole(buf, len)) {
			fprintf(stderr, "# torn read %lu (%zu bytes)\n", reads, len);
			bad = 1;
			break;
		}
	}
	fprintf(stdout, "# reader: %lu whole reads\n", reads);
	fflush(stdout);
	free(buf);
	_exit(bad ? 1 : reads ? 0 : 4);
}

/* promtool on the file, if the machine has it. */
static void check_promtool(const char *path)
{
	static const char *const where[] = { "/usr/bin/promtool",
					     "/usr/local/bin/promtool" };
	struct strbuf cmd = STRBUF_INIT, out = STRBUF_INIT;
	const char *pt = NULL;
	int rc;

	for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++)
		if (!pt && !access(where[i], X_OK))
			pt = where[i];
	if (!pt) {
		ok(1, "promtool check metrics # SKIP promtool not installed "
		   "(Debian package prometheus; image/ensure-tools.sh test)");
		return;
	}
	strbuf_addf(&cmd, "%s check metrics <'%s' >'%s.promtool' 2>&1", pt,
		    path, path);
	rc = system(cmd.buf);
	strbuf_setlen(&cmd, 0);
	strbuf_addf(&cmd, "%s.promtool", path);
	if (!strbuf_read_file(&out, cmd.buf, 1 << 20) && out.len)
		tap_diag("promtool: %s", out.buf);
	unlink(cmd.buf);
	ok(rc == 0, "promtool check metrics accepts the file (status %d)", rc);
	strbuf_release(&cmd);
	strbuf_release(&out);
}

/* Names in dir other than "." and "..", space separated. */
static void list_dir(struct strbuf *sb, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	while (d && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			strbuf_addf(sb, "%s ", de->d_name);
	if (d)
		closedir(d);
}

int main(void)
{
	struct store *st = NULL;
	struct config cfg;
	struct strbuf state = STRBUF_INIT, prom = STRBUF_INIT, text = STRBUF_INIT;
	struct strbuf sb = STRBUF_INIT, dir = STRBUF_INIT;
	struct apply_result r;
	struct metrics_extra x;
	struct value *pass;
	struct stat s;
	const char *tail;
	long long rss;
	int pfd[2], status, rc;
	mode_t old_umask;
	pid_t pid;

	memset(sha, 'e', 64);
	memset(commit, 'c', 40);
	strbuf_addf(&state, "%s/state", tap_tmpdir());
	strbuf_addf(&dir, "%s/textfile", tap_tmpdir());
	strbuf_addf(&prom, "%s/furrow.prom", dir.buf);
	memset(&cfg, 0, sizeof(cfg));
	cfg.state_dir = state.buf;

	/* escaping alone */
	metrics_escape_label(&sb, "a\\b\"c\nd");
	is_str(sb.buf, "a\\\\b\\\"c\\nd", "label values: \\ \" and newline escaped");
	strbuf_setlen(&sb, 0);
	metrics_escape_label(&sb, "plain-1.2_x/y");
	is_str(sb.buf, "plain-1.2_x/y", "anything else is kept");
	strbuf_setlen(&sb, 0);

	is_int(store_open(&st, state.buf, NULL), 0, "open a store");

	/* an empty store renders: counters at zero, no per-app series */
	is_int(metrics_render(&text, &cfg, st, NULL), 0, "render an empty store");
	ok(strstr(text.buf, "\nfurrow_passes_total 0\n") &&
	   strstr(text.buf, "\nfurrow_last_success_timestamp_seconds 0\n") &&
	   !strstr(text.buf, "furrow_pass_duration_seconds") &&
	   !strstr(text.buf, "furrow_applied_serial") &&
	   !strstr(text.buf, "furrow_outbox") &&
	   !strstr(text.buf, "{app="), "zero counters, nothing unknown");

	/* no textfile configured: nothing written */
	is_int(metrics_write(&cfg, st, NULL), 0, "no metrics.textfile: no-op");

	/* crafted state */
	ok(!plan_record_applied(st, "web", sha, commit) &&
	   !plan_record_applied(st, "db", sha, commit) &&
	   !plan_record_applied(st, ODD, sha, commit), "three applied apps");
	put_rt(st, "web", "healthy", 2, 1, 0);
	put_rt(st, "db", "unhealthy", 0, 3, 1);
	link_current(state.buf, "web", "b");
	link_current(state.buf, "db", "a");
	pass = value_new(VALUE_TABLE);
	value_put_str(pass, "commit", commit);
	value_put_int(pass, "serial", 7);
	value_put_int(pass, "exit", 3);
	value_sort(pass);
	is_int(runtime_pass_put(st, pass), 0, "a last pass with serial 7");
	value_free(pass);

	{
		struct apply_app a1[] = {
			{ (char *)"db", NULL, PLAN_UNCHANGED, APPLY_UNCHANGED, NULL, 'a' },
			{ (char *)"web", NULL, PLAN_UPDATE, APPLY_ROLLED_BACK, NULL, 'b' },
		};
		struct apply_app a3[] = {
			{ (char *)"db", NULL, PLAN_UNCHANGED, APPLY_REPAIRED, NULL, 'a' },
			{ (char *)"ghost", NULL, PLAN_CREATE, APPLY_ROLLED_BACK, NULL, 0 },
			{ (char *)ODD, NULL, PLAN_UNCHANGED, APPLY_UNCHANGED, NULL, 0 },
			{ (char *)"web", NULL, PLAN_UPDATE, APPLY_ROLLED_BACK, NULL, 'b' },
		};

		result_of(&r, a1, 2);
		is_int(record(st, 1, 2.0, 1000, &r), 0, "record pass 1 (web rolled back)");
		result_of(&r, NULL, 0);
		r.fetch_error = (char *)"connection refused";
		is_int(record(st, 0, 0.5, 1100, &r), 0,
		       "record pass 2 (stopped early, fetch failed)");
		result_of(&r, a3, 4);
		r.verify_error = (char *)"bad signature";
		is_int(record(st, 1, 1.25, 1200, &r), 0,
		       "record pass 3 (verify failed, two rolled back)");
	}

	memset(&x, 0, sizeof(x));
	x.has_commit_age = 1;
	x.commit_age = 3600;
	x.has_outbox = 1;
	x.outbox.depth = 4;
	x.outbox.bytes = 512;
	x.outbox.dropped[OUTBOX_HEARTBEAT] = 9;
	x.outbox.dropped[OUTBOX_REPORT] = 1;
	x.outbox.dead = 2;

	/* the file, under a restrictive umask */
	ok(!file_mkdirs(dir.buf, 0755), "the textfile directory");
	cfg.metrics.textfile = prom.buf;
	old_umask = umask(077);
	is_int(metrics_write(&cfg, st, &x), 0, "write the textfile");
	umask(old_umask);
	memset(&s, 0, sizeof(s));
	rc = stat(prom.buf, &s);
	ok(!rc && (s.st_mode & 07777) == 0644,
	   "mode 0644 whatever the umask (%o)", (unsigned)(s.st_mode & 07777));
	list_dir(&sb, dir.buf);
	is_str(sb.buf, "furrow.prom ", "no temp file left beside it");
	strbuf_setlen(&sb, 0);
	strbuf_setlen(&text, 0);
	is_int(strbuf_read_file(&text, prom.buf, 1 << 20), 0, "read it back");
	tail = split_rss(text.buf, &rss);
	ok(tail != NULL, "it ends with the process's memory");
	if (tail) {
		strbuf_add(&sb, text.buf, (size_t)(tail - text.buf));
		is_str(sb.buf, expected_head, "every line as expected");
		ok(!strncmp(tail, expected_rss_head, strlen(expected_rss_head)) &&
		   rss > 0 && text.buf[text.len - 1] == '\n' &&
		   !strchr(strstr(tail, "\nfurrow_process_resident_bytes ") + 1,
			   '#'), "resident bytes last: %lld", rss);
		strbuf_setlen(&sb, 0);
	}
	check_promtool(prom.buf);

	/* counters forget apps removed or no longer planned */
	{
		struct apply_app a4[] = {
			{ (char *)"db", NULL, PLAN_REMOVE, APPLY_REMOVED, NULL, 0 },
			{ (char *)"web", NULL, PLAN_UNCHANGED, APPLY_UNCHANGED, NULL, 'b' },
		};

		result_of(&r, a4, 2);
		is_int(record(st, 1, 0.125, 1300, &r), 0, "record pass 4");
	}
	strbuf_setlen(&text, 0);
	is_int(metrics_render(&text, &cfg, st, &x), 0, "render again");
	ok(strstr(text.buf, "\nfurrow_passes_total 4\n") &&
	   strstr(text.buf, "\nfurrow_last_success_timestamp_seconds 1300\n") &&
	   strstr(text.buf, "\nfurrow_pass_duration_seconds 0.125\n") &&
	   strstr(text.buf, "\nfurrow_last_pass_exit_code 0\n"),
	   "the fourth pass counted");
	ok(strstr(text.buf, "\nfurrow_rollbacks_total{app=\"db\"} 0\n"
		  "furrow_rollbacks_total{app=\"" ODD_LABEL "\"} 0\n"
		  "furrow_rollbacks_total{app=\"web\"} 2\n# HELP") != NULL,
	   "ghost (not planned) gone, web kept");

	/* an unreadable record: counters start again, nothing fails */
	is_int(store_put1(st, "runtime", "/metrics", 8, "{nope", 5), 0,
	       "plant an unreadable counter record");
	is_int(record(st, 1, 1, 1400, NULL), 0, "a pass is recorded anyway");
	strbuf_setlen(&text, 0);
	is_int(metrics_render(&text, &cfg, st, NULL), 0, "render");
	ok(strstr(text.buf, "\nfurrow_passes_total 1\n") &&
	   strstr(text.buf, "\nfurrow_pass_duration_seconds 1\n"),
	   "counters started again from the pass");
	ok(strstr(text.buf, "\nfurrow_app_healthy{app=\"web\"} 1\n") != NULL,
	   "the runtime records are untouched");

	/* atomic replace: a reader never sees a partial file */
	is_int(metrics_write(&cfg, st, &x), 0, "write before the race");
	if (pipe(pfd)) {
		ok(0, "pipe: %s", strerror(errno));
		return tap_done();
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		close(pfd[1]);
		reader(prom.buf, pfd[0]);
	}
	close(pfd[0]);
	{
		int fails = 0;

		for (int i = 0; i < 1000; i++) {
			/* Lengths change with i, so that a torn read would
			 * be noticed by its end. */
			x.commit_age = (long long)i * 1000003;
			x.outbox.bytes = (uint64_t)i * i * 977;
			if (metrics_write(&cfg, st, &x))
				fails++;
		}
		is_int(fails, 0, "1000 rewrites");
	}
	close(pfd[1]);
	status = -1;
	rc = waitpid(pid, &status, 0) == pid;
	ok(rc && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "a concurrent reader saw only whole files (wait status %d)", status);
	list_dir(&sb, dir.buf);
	is_str(sb.buf, "furrow.prom ", "no temp file left after 1000 rewrites");
	strbuf_setlen(&sb, 0);

	/* a missing directory is an error naming it */
	strbuf_setlen(&sb, 0);
	strbuf_addf(&sb, "%s/nodir/furrow.prom", tap_tmpdir());
	cfg.metrics.textfile = sb.buf;
	is_int(metrics_write(&cfg, st, NULL), FURROW_EIO, "missing directory");
	ok(strstr(error_message(), "/nodir") != NULL, "named: %s", error_message());
	error_clear();

	store_free(st);
	strbuf_release(&state);
	strbuf_release(&prom);
	strbuf_release(&text);
	strbuf_release(&sb);
	strbuf_release(&dir);
	return tap_done();
}
