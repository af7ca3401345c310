/*
 * driver.c - the table of drivers this build has (driver.h).
 */
#include <stddef.h>

#include "driver.h"
#include "error.h"
#include "banned.h"

const struct driver *driver_for(enum appspec_kind kind)
{
	static const struct driver *const table[] = {
		&driver_service,
		&driver_files,
		&driver_systemd,
		&driver_container,
	};

	for (size_t i = 0; i < sizeof(table) / sizeof(*table); i++)
		if (table[i]->kind == kind)
			return table[i];
	error_set(FURROW_EINVAL, "kind %s is not supported by this furrow yet",
		  appspec_kind_name(kind));
	return NULL;
}
