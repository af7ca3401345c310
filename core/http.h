/*
 * http.h - HTTP(S) with libcurl.
 *
 * core/http.c is the only file that includes <curl/curl.h>.  Requests
 * (reports, container engine API, offsite backups) arrive with the work
 * that needs them; for now it reports the linked libcurl and the zlib
 * and TLS library it was built with, as libcurl itself reports them.
 */
#ifndef FURROW_HTTP_H
#define FURROW_HTTP_H

/* "7.88.1" */
const char *http_curl_version(void);
/* "1.2.13": zlib as linked, read through libcurl at run time. */
const char *http_zlib_version(void);
/* "mbedTLS/2.28.3": libcurl's TLS backend. */
const char *http_tls_backend(void);

#endif
