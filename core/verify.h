/*
 * verify.h - signature checks (mbedTLS, libsodium).
 *
 * core/verify.c is the only file that includes mbedTLS and libsodium.
 * SSH signature verification arrives with the sync work; for now it
 * reports the linked libraries.
 */
#ifndef FURROW_VERIFY_H
#define FURROW_VERIFY_H

/* "2.28.3", from the linked mbedTLS at run time. */
const char *verify_mbedtls_version(void);
/* "1.0.18", from the linked libsodium at run time. */
const char *verify_sodium_version(void);

#endif
