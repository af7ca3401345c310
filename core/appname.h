/*
 * appname.h - what an app name may be on the host: 1 to 63 of
 * a-z 0-9 . _ -, starting with a letter or digit.  The name becomes a
 * directory (state_dir/apps/NAME), a process, container and unit name,
 * and a control-socket argument, so every place checks it the same way
 * (lua/desired.lua applies the same rule to furrow.lua).
 */
#ifndef FURROW_APPNAME_H
#define FURROW_APPNAME_H

#define APP_NAME_MAX 63

/* 1 if s is a valid app name, else 0. */
int app_name_valid(const char *s);

/*
 * The active slot of app under state_dir, read from its `current` link
 * without creating anything: 'a', 'b', or 0 (none, or not a link to a
 * slot).  For readers (status, the daemon's watch); the engine uses
 * slots.h.
 */
int app_active_slot(const char *state_dir, const char *app);

#endif
