/*
 * fuzz_backup_tree.c - libFuzzer target: the snapshot manifest decoder
 * (backup_tree.h) and the snapshot record decoder on any bytes (after
 * authentication they come from our own encoder, but a decoder that
 * trusts its input is one bug away from a restore outside its target).
 * Every entry that decodes must have a valid path, in-range attributes
 * and extents that add up to its size; a decoded record must encode back
 * to the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backup_int.h"
#include "limits.h"
#include "error.h"
#include "strbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void tree(const uint8_t *data, size_t size)
{
	struct bt_reader r;
	struct bt_entry e;
	struct bt_extent_reader xr;
	struct bt_extent x;
	int ret;

	if (bt_reader_init(&r, data, size))
		return;
	while ((ret = bt_next(&r, &e)) == 1) {
		uint64_t sum = 0, n = 0;

		if (!bt_path_valid(e.path, e.path_len) || e.mode > 07777)
			abort();
		if (e.type == BT_HARDLINK &&
		    !bt_path_valid(e.target, e.target_len))
			abort();
		bt_extents(&xr, &e);
		while (bt_extent_next(&xr, &x)) {
			if (!x.len || (!x.hole && x.len > LIMIT_BACKUP_CHUNK_BYTES))
				abort();
			sum += x.len;
			n++;
		}
		if (e.type == BT_FILE && (sum != e.size || n != e.nextents))
			abort();
	}
	if (ret < 0)
		error_clear();
}

static void record(const uint8_t *data, size_t size)
{
	struct backup_record rec;
	struct strbuf again = STRBUF_INIT;

	if (record_decode(&rec, data, size)) {
		error_clear();
		return;
	}
	record_encode(&again, &rec);
	if (again.len != size || memcmp(again.buf, data, size))
		abort();
	strbuf_release(&again);
	record_release(&rec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 1024 * 1024)
		return 0;
	tree(data, size);
	record(data, size);
	return 0;
}
