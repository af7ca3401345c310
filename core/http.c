/*
 * http.c - see http.h.
 */
#include <curl/curl.h>

#include "http.h"
#include "banned.h"

const char *http_curl_version(void)
{
	return curl_version_info(CURLVERSION_NOW)->version;
}

const char *http_zlib_version(void)
{
	const char *v = curl_version_info(CURLVERSION_NOW)->libz_version;

	return v ? v : "none";
}

const char *http_tls_backend(void)
{
	const char *v = curl_version_info(CURLVERSION_NOW)->ssl_version;

	return v ? v : "none";
}
