/*
 * fault.h - crash points for recovery tests.
 *
 * A TEST HOOK, compiled into every build but inert unless the environment
 * variable FURROW_CRASH_AT is set when the first fault_point() runs (it is
 * read once per process).  Its value is "<step>" or "<step>:<n>" (n >= 1,
 * default 1): the n-th time this process reaches fault_point("<step>"),
 * it writes "furrow: fault point <step>:<n>" to stderr and _exit(86)s at
 * once - no atexit handlers, no buffered output flushed, no store closed -
 * which is as close to a power cut as a process can get while the kernel
 * keeps what was already written.  A malformed value is reported once on
 * stderr and otherwise ignored.
 *
 * The apply journal (journal.h) calls fault_point("<step>") right after
 * the intent to run a step is committed and fault_point("<step>-done")
 * right after its completion is committed.
 */
#ifndef FURROW_FAULT_H
#define FURROW_FAULT_H

/* The exit status of a process stopped at a fault point. */
#define FAULT_EXIT_CODE 86

/* Crash here if FURROW_CRASH_AT says so; otherwise return at once. */
void fault_point(const char *step);

/* FOR TESTS ONLY: forget the parsed variable and the counts, so the next
 * fault_point() reads FURROW_CRASH_AT again (e.g. in a forked child after
 * setenv()). */
void fault_reload(void);

#endif
