/*
 * backup_key.h - the key of furrow's encrypted, deduplicated backups,
 * and the authenticated encryption of what they store.
 *
 * Backups are split into chunks named by a keyed hash of their content
 * and kept, with snapshot records, in LMDB and on an offsite HTTPS
 * server that is not trusted: it must learn nothing about the content
 * (not even whether two hosts back up the same file, so ids are keyed)
 * and anything it hands back is checked before use.
 *
 * Key file
 * --------
 * One line, 86 bytes:
 *
 *     furrow-backup-key-v1 <64 lowercase hex digits>\n
 *
 * the hex being 32 bytes from getrandom(2), the master key.  The final
 * newline may be missing (secret stores and `printf %s` often drop it);
 * nothing else is accepted: no other header, no uppercase hex (one key,
 * one spelling), no blanks, CR, comment or second line.  The file must
 * be a regular file (a symbolic link to one is followed) that neither
 * group nor others may access at all (mode & 077 == 0).  Messages name
 * the file, never any of its content.
 *
 * Derived keys
 * ------------
 * Nothing uses the master directly.  Each use gets its own key,
 * HMAC-SHA-256(master, label), with the labels
 *
 *     "furrow backup v1 chunk-id"   id_key
 *     "furrow backup v1 encrypt"    enc_key
 *     "furrow backup v1 gear-seed"  gear_seed
 *     "furrow backup v1 check"      check
 *
 * HMAC is a PRF, so knowing one of them (check is public) tells nothing
 * about the others or about the master.
 *
 * Sealed blobs
 * ------------
 *     version (1 byte, = 1) || nonce (12) || ciphertext || tag (16)
 *
 * AES-256-GCM under enc_key; ciphertext is as long as the plaintext.
 * The additional authenticated data is version || type || name, so a
 * blob copied to another name (chunk id, snapshot key) or type, or
 * relabelled with another version, fails to open.  Nonces are random
 * (getrandom): under one key that is safe for well over 2^32 seals (the
 * NIST bound), and deduplication means each distinct chunk is sealed
 * about once.
 *
 * Every function here may be called from several threads at once with
 * the same const struct backup_key: each call uses its own contexts.
 * The plain and blob arguments must not point into out (appending may
 * move out's buffer).
 */
#ifndef FURROW_BACKUP_KEY_H
#define FURROW_BACKUP_KEY_H

#include <stddef.h>

#include "sha256.h"

struct strbuf;

#define BACKUP_KEY_HEADER       "furrow-backup-key-v1"
#define BACKUP_KEY_BYTES        32    /* master key */
#define BACKUP_KEY_FILE_BYTES   4096u /* read at most this much of a key file */
#define BACKUP_ID_BYTES         32
#define BACKUP_BLOB_VERSION     1
#define BACKUP_GCM_NONCE_BYTES  12
#define BACKUP_GCM_TAG_BYTES    16
#define BACKUP_SEAL_OVERHEAD    (1 + BACKUP_GCM_NONCE_BYTES + BACKUP_GCM_TAG_BYTES)

struct backup_key {
	unsigned char id_key[32];    /* HMAC key for chunk ids */
	unsigned char enc_key[32];   /* AES-256-GCM key */
	unsigned char gear_seed[32]; /* seed for the chunker's gear table */
	unsigned char check[32];     /* public fingerprint of the key: stored
					with the data to detect a wrong key
					without decrypting anything */
	struct hmac_sha256_key id_mac; /* id_key prepared: a chunk id costs
					  only the chunk's own blocks */
};

/*
 * Read the key file at path (format above) and derive k from it.
 * Returns 0; FURROW_ENOENT (no such file); FURROW_EINVAL (not a regular
 * file, or group/others have access: the message says "chmod 600");
 * FURROW_ESYNTAX (not exactly the format above); FURROW_ELIMIT (larger
 * than BACKUP_KEY_FILE_BYTES); FURROW_EIO.  On failure k is zeroed.
 * The master key and the file's bytes are wiped from memory before
 * returning; wipe k with backup_key_wipe() when done.
 */
int backup_key_load(struct backup_key *k, const char *path);

/*
 * Create a new key file at path with a fresh random master key: created
 * exclusively (an existing file, or a symbolic link, is never replaced:
 * FURROW_EINVAL "... exists"), mode 0600 whatever the umask, written,
 * fsynced, and its directory fsynced.  A failure after creating it
 * removes it again.  Returns 0, FURROW_EINVAL or FURROW_EIO.
 */
int backup_key_generate(const char *path);

/* Derive k from a master key (what backup_key_load() does after parsing
 * the file); for tests and fuzzing.  Never fails. */
void backup_key_derive(struct backup_key *k,
		       const unsigned char master[BACKUP_KEY_BYTES]);

/* Zero every byte of k in a way the compiler keeps.  Accepts NULL. */
void backup_key_wipe(struct backup_key *k);

/* HMAC-SHA-256(id_key, data): the content-addressed id of a chunk; ids
 * do not leak content without the key. */
void backup_chunk_id(const struct backup_key *k, const void *data, size_t len,
		     unsigned char id[BACKUP_ID_BYTES]);

/*
 * Seal plain (len bytes) and append the blob (len + BACKUP_SEAL_OVERHEAD
 * bytes, layout above) to out.  type is the caller's (e.g. 'c' chunk,
 * 's' snapshot) and name (namelen bytes, e.g. the chunk id or snapshot
 * key) is what the blob is stored under; both must be given again to
 * open it.  Returns 0; FURROW_EIO (no random nonce); FURROW_EINVAL
 * (plaintext beyond GCM's 64 GiB).  Nothing is appended on failure.
 */
int backup_seal(const struct backup_key *k, unsigned char type,
		const void *name, size_t namelen, const void *plain, size_t len,
		struct strbuf *out);

/*
 * Open a blob sealed by backup_seal() with the same type and name, and
 * append its plaintext (bloblen - BACKUP_SEAL_OVERHEAD bytes) to out.
 * Returns 0; FURROW_ESYNTAX (shorter than BACKUP_SEAL_OVERHEAD, or an
 * unknown version); FURROW_EVERIFY ("authentication failed": wrong key,
 * type or name, any changed bit, truncation or extension).  On failure
 * out is left exactly as it was, and no unauthenticated plaintext is
 * left in its spare memory.  Callers add which blob it was with
 * error_prefix().  (Not "backup_open": that opens the store, backup.h.)
 */
int backup_open_blob(const struct backup_key *k, unsigned char type,
		     const void *name, size_t namelen, const void *blob,
		     size_t bloblen, struct strbuf *out);

/* Write n bytes of bin as lowercase hex into out (2n + 1 bytes, NUL
 * included). */
void backup_hex(const unsigned char *bin, size_t n, char *out);

/* 1 if AES-256-GCM runs on AES-NI and PCLMUL (libsodium's), 0 if on
 * mbedTLS's portable code; the bytes are the same.  Tests force the
 * portable one to compare the two. */
int backup_gcm_accelerated(void);
void backup_gcm_force_portable(int on);

#endif
