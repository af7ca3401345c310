/*
 * verify.c - see verify.h.
 */
#include <mbedtls/version.h>
#include <sodium.h>

#include "verify.h"
#include "banned.h"

const char *verify_mbedtls_version(void)
{
	static char buf[18]; /* the size mbedTLS documents */

	if (!buf[0])
		mbedtls_version_get_string(buf);
	return buf;
}

const char *verify_sodium_version(void)
{
	return sodium_version_string();
}
