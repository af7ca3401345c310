/*
 * limits.h - every bound furrow puts on input, in one place.
 *
 * A limit hit is an FURROW_ELIMIT error whose message names the input and
 * the limit (see error.h); it is never a crash or a silent truncation.
 */
#ifndef FURROW_LIMITS_H
#define FURROW_LIMITS_H

/* Agent config (core/config.c, evaluated by core/sandbox.c) */
#define LIMIT_CONFIG_FILE_BYTES   (256u * 1024)      /* agent.lua size */
#define LIMIT_CONFIG_MEMORY_BYTES (8u * 1024 * 1024) /* Lua heap */
#define LIMIT_CONFIG_INSTRUCTIONS 10000000ul         /* Lua VM instructions */
#define LIMIT_CONFIG_MILLISECONDS 2000u              /* wall clock */

/* Values converted out of Lua (core/value.c) */
#define LIMIT_VALUE_DEPTH         32      /* nested tables */
#define LIMIT_VALUE_NODES         1000000 /* tables + scalars in one result */
#define LIMIT_VALUE_STRING_BYTES  (1u * 1024 * 1024)
#define LIMIT_LABELS              64      /* host labels */
#define LIMIT_LABEL_BYTES         128     /* one label key or value */
#define LIMIT_HOST_ID_BYTES       64

/* Paths furrow builds under state_dir */
#define LIMIT_PATH_BYTES          4096

/* Trust and token files read from the host */
#define LIMIT_TOKEN_FILE_BYTES    (16u * 1024)

/* State store (core/store.c) */
#define LIMIT_STORE_KEY_BYTES     511     /* LMDB's default max key size */
#define LIMIT_STORE_VALUE_BYTES   (64u * 1024 * 1024)
#define STORE_MAP_INITIAL_BYTES   (1u * 1024 * 1024)
#define STORE_MAP_MAX_BYTES       (64ull * 1024 * 1024 * 1024)

/* Log lines (core/log.c) */
#define LIMIT_LOG_LINE_BYTES      4096

#endif
