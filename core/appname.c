/*
 * appname.c - app names and the active slot, for readers (appname.h).
 */
#include <string.h>
#include <unistd.h>

#include "appname.h"
#include "strbuf.h"
#include "banned.h"

int app_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > APP_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

		if (!alnum && (i == 0 || !strchr("_.-", c)))
			return 0;
	}
	return 1;
}

int app_active_slot(const char *state_dir, const char *app)
{
	struct strbuf p = STRBUF_INIT;
	char buf[4];
	ssize_t n;

	if (!app_name_valid(app))
		return 0;
	strbuf_addf(&p, "%s/apps/%s/current", state_dir, app);
	n = readlink(p.buf, buf, sizeof(buf));
	strbuf_release(&p);
	return n == 1 && (buf[0] == 'a' || buf[0] == 'b') ? buf[0] : 0;
}
