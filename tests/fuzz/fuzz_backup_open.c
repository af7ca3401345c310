/*
 * fuzz_backup_open.c - libFuzzer target: opening any bytes an untrusted
 * backup server could hand back as a sealed blob (core/backup_key.c),
 * under a fixed key, type 'c' and name "fuzz".  Only FURROW_ESYNTAX or
 * FURROW_EVERIFY may come back for anything not sealed with that key;
 * a refusal must leave out exactly as it was, and a success must give
 * exactly bloblen - BACKUP_SEAL_OVERHEAD bytes.
 *
 * The seeds in corpus/fuzz_backup_open/ are blobs sealed under this key
 * (master = bytes 0x00..0x1f), so the fuzzer starts from valid ones.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backup_key.h"
#include "error.h"
#include "strbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct backup_key key;
	static int ready;
	struct strbuf out = STRBUF_INIT;
	int ret;

	if (!ready) {
		unsigned char master[BACKUP_KEY_BYTES];

		for (int i = 0; i < BACKUP_KEY_BYTES; i++)
			master[i] = (unsigned char)i;
		backup_key_derive(&key, master);
		ready = 1;
	}
	strbuf_addstr(&out, "prefix");
	ret = backup_open_blob(&key, 'c', "fuzz", 4, data, size, &out);
	if (ret == 0) {
		if (size < BACKUP_SEAL_OVERHEAD ||
		    out.len != 6 + size - BACKUP_SEAL_OVERHEAD)
			abort();
	} else if (ret == FURROW_ESYNTAX || ret == FURROW_EVERIFY) {
		if (out.len != 6 || strcmp(out.buf, "prefix") != 0)
			abort();
	} else {
		abort();
	}
	if (memcmp(out.buf, "prefix", 6) != 0 || out.buf[out.len] != '\0')
		abort();
	strbuf_release(&out);
	return 0;
}
