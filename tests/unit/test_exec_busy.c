/*
 * test_exec_busy.c - execve_waiting_busy() against the race it is for: a
 * script just written is still open for writing in another child (forked
 * while the write was going on, not yet at its own exec), and exec of it
 * fails with ETXTBSY until that child lets go.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "exec_busy.h"
#include "tap.h"

static char script[256];

/* Write the script and leave it open for writing in a child that holds
 * the descriptor for ms milliseconds (as a child forked by another thread
 * would, until its execve). */
static pid_t write_script_held(int ms)
{
	static const char body[] = "#!/bin/sh\nexit 42\n";
	int fd = open(script, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	pid_t holder;

	if (fd < 0 || write(fd, body, sizeof(body) - 1) != sizeof(body) - 1)
		return -1;
	holder = fork();
	if (holder == 0) {
		struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

		nanosleep(&ts, NULL);
		_exit(0);
	}
	close(fd);
	return holder;
}

/* Exec the script in a child: its exit status, or 100 + errno when the
 * exec failed. */
static int exec_script(int waiting)
{
	char *argv[] = { script, NULL };
	char *envp[] = { NULL };
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		if (waiting)
			execve_waiting_busy(script, argv, envp);
		else
			execve(script, argv, envp);
		_exit(100 + (errno & 0x7f));
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

int main(void)
{
	char dir[] = "/tmp/furrow-exec-busy-XXXXXX";
	pid_t holder;
	int code;

	if (!mkdtemp(dir)) {
		ok(0, "mkdtemp: %s", strerror(errno));
		return tap_done();
	}
	snprintf(script, sizeof(script), "%s/run.sh", dir);

	/* The race itself, so the test means something on this kernel. */
	holder = write_script_held(2000);
	ok(holder > 0, "a child holds the script open for writing");
	code = exec_script(0);
	is_int(code, 100 + ETXTBSY, "plain execve: Text file busy");
	kill(holder, SIGKILL);
	waitpid(holder, NULL, 0);

	/* Waited out: the holder lets go after 300 ms. */
	holder = write_script_held(300);
	code = exec_script(1);
	is_int(code, 42, "execve_waiting_busy: the script runs once it is free");
	waitpid(holder, NULL, 0);

	/* Other errors are not retried: a missing file fails at once. */
	{
		struct timespec t0, t1;
		char keep[256];

		snprintf(keep, sizeof(keep), "%s", script);
		snprintf(script, sizeof(script), "%s/missing", dir);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		code = exec_script(1);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		is_int(code, 100 + ENOENT, "a missing file: ENOENT");
		ok((t1.tv_sec - t0.tv_sec) * 1000 +
		   (t1.tv_nsec - t0.tv_nsec) / 1000000 < 900,
		   "without waiting (the retries would take a second)");
		snprintf(script, sizeof(script), "%s", keep);
	}

	/* Held for longer than the waiting: still busy, then the error. */
	holder = write_script_held(3000);
	code = exec_script(1);
	is_int(code, 100 + ETXTBSY, "held past the wait: ETXTBSY in the end");
	kill(holder, SIGKILL);
	waitpid(holder, NULL, 0);

	unlink(script);
	rmdir(dir);
	return tap_done();
}
