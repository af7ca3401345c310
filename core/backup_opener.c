/*
 * backup_opener.c - fetch, decrypt, decompress and check chunks on worker
 * threads while a restore writes the ones before them (backup_int.h:
 * struct opener), on a workring: at most OPENER_JOBS chunks in memory,
 * handed back in the order of the file.
 */
#include <stdlib.h>
#include <string.h>

#include "backup_int.h"
#include "bug.h"
#include "error.h"
#include "strbuf.h"
#include "workring.h"
#include "banned.h"

struct open_job {
	unsigned char id[BT_ID_BYTES];
	uint64_t len, off;         /* as the manifest says; where it goes */
	struct strbuf blob, plain;
};

struct opener {
	struct workring *ring;
};

static int open_chunk(void *ctx, void *job)
{
	struct open_job *j = job;
	int ret = chunk_read(ctx, j->id, &j->blob, &j->plain);

	if (!ret && j->plain.len != j->len)
		ret = error_set(FURROW_EVERIFY, "a chunk's length differs "
				"from the manifest");
	return ret;
}

static void job_init(void *job)
{
	struct open_job *j = job;

	strbuf_init(&j->blob, 0);
	strbuf_init(&j->plain, 0);
}

static void job_release(void *job)
{
	struct open_job *j = job;

	strbuf_release(&j->blob);
	strbuf_release(&j->plain);
}

struct handback {
	opener_fn fn;
	void *arg;
};

static int hand_back(void *arg, void *job)
{
	struct handback *h = arg;
	struct open_job *j = job;

	return h->fn(h->arg, j->plain.buf, j->plain.len, j->off);
}

struct opener *opener_new(const struct chunk_source *src)
{
	struct opener *o = calloc(1, sizeof(*o));

	if (!o || !(o->ring = workring_new(OPENER_JOBS, sizeof(struct open_job),
					   open_chunk, (void *)src, job_init,
					   job_release)))
		BUG("out of memory");
	return o;
}

int opener_submit(struct opener *o, const unsigned char id[BT_ID_BYTES],
		  uint64_t len, uint64_t off, opener_fn fn, void *arg)
{
	struct handback h = { fn, arg };
	struct open_job *j;
	int ret;

	if (!(j = workring_slot(o->ring, hand_back, &h, &ret)))
		return ret;
	memcpy(j->id, id, BT_ID_BYTES);
	j->len = len;
	j->off = off;
	workring_publish(o->ring);
	return 0;
}

int opener_drain(struct opener *o, opener_fn fn, void *arg)
{
	struct handback h = { fn, arg };

	return workring_drain(o->ring, hand_back, &h);
}

void opener_free(struct opener *o)
{
	if (!o)
		return;
	workring_free(o->ring);
	free(o);
}
