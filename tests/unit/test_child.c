/*
 * test_child.c - the confined child: what it inherits, what it may do,
 * and how the parent bounds it.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "child.h"
#include "error.h"
#include "tap.h"

/* Reports which descriptors above 2 are open in the child. */
static void list_fds(struct strbuf *out, void *arg)
{
	(void)arg;
	for (int fd = 3; fd < 256; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			strbuf_addf(out, "%d ", fd);
}

static void whoami(struct strbuf *out, void *arg)
{
	(void)arg;
	strbuf_addf(out, "%d %d", (int)getuid(), (int)getgid());
}

static void spin(struct strbuf *out, void *arg)
{
	(void)out;
	(void)arg;
	for (;;)
		;
}

static void write_file(struct strbuf *out, void *arg)
{
	int fd = open(arg, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	/* With file_bytes 0 the first byte raises SIGXFSZ. */
	if (fd >= 0 && write(fd, "data", 4) == 4)
		strbuf_addstr(out, "written");
	if (fd >= 0)
		close(fd);
}

/* Opens files until it cannot; reports how many it got. */
static void open_many(struct strbuf *out, void *arg)
{
	int n = 0;

	(void)arg;
	while (n < 1000 && open("/dev/null", O_RDONLY) >= 0)
		n++;
	strbuf_addf(out, "%d", n);
}

static void chatter(struct strbuf *out, void *arg)
{
	(void)arg;
	for (int i = 0; i < 100000; i++)
		strbuf_addstr(out, "0123456789");
}

int main(void)
{
	struct child_limits lim = { 2000, 1 << 20, 0, 0, 0, 0 };
	struct strbuf out = STRBUF_INIT, path = STRBUF_INIT;
	int fds[4], ret;

	/* Descriptors the parent holds (like LMDB's) must not reach it. */
	for (int i = 0; i < 4; i++)
		fds[i] = open("/dev/null", O_RDONLY);
	ret = child_run(&out, "fds", list_fds, NULL, &lim);
	is_int(ret, 0, "child runs");
	is_str(out.buf, "3 ", "the child holds only its pipe (fd 3)");
	for (int i = 0; i < 4; i++)
		close(fds[i]);

	ret = child_run(&out, "who", whoami, NULL, &lim);
	is_int(ret, 0, "child reports its ids");
	if (geteuid() == 0)
		is_str(out.buf, "65534 65534", "as root, the child runs as 65534");
	else
		ok(strlen(out.buf) > 0, "unprivileged: ids unchanged (%s)", out.buf);

	lim.milliseconds = 300;
	ret = child_run(&out, "spin", spin, NULL, &lim);
	is_int(ret, FURROW_ELIMIT, "a child that spins is stopped");
	ok(strstr(error_message(), "spin: time limit of 300 ms") != NULL,
	   "... named: %s", error_message());
	lim.milliseconds = 2000;

	strbuf_addf(&path, "%s/written", tap_tmpdir());
	if (geteuid() == 0)
		chmod(tap_tmpdir(), 0777);
	ret = child_run(&out, "write", write_file, path.buf, &lim);
	is_int(ret, FURROW_ELIMIT, "a child may not write files (file_bytes 0)");
	ok(strstr(error_message(), "file size limit") != NULL, "... named: %s",
	   error_message());

	ret = child_run(&out, "files", open_many, NULL, &lim);
	is_int(ret, 0, "a child that opens files returns");
	ok(atoi(out.buf) > 0 && atoi(out.buf) < 16,
	   "it is held to LIMIT_CHILD_OPEN_FILES (%s opened)", out.buf);

	lim.output_bytes = 1000;
	ret = child_run(&out, "chatty", chatter, NULL, &lim);
	is_int(ret, FURROW_ELIMIT, "output over the cap is refused");
	ok(strstr(error_message(), "more than the limit of 1000") != NULL,
	   "... named: %s", error_message());

	strbuf_release(&out);
	strbuf_release(&path);
	return tap_done();
}
