/*
 * backup_sealer.c - compress and encrypt new chunks on worker threads
 * while the snapshot's own thread reads, cuts and hashes the next ones
 * (backup_int.h: struct sealer), on a workring: at most SEALER_JOBS
 * chunks (and their sealed copies) in memory, handed back in order.
 */
#include <stdlib.h>
#include <string.h>

#include "backup_int.h"
#include "strbuf.h"
#include "workring.h"
#include "banned.h"

struct seal_job {
	unsigned char id[BT_ID_BYTES];
	struct strbuf data;        /* a copy: the reader's buffer moves on */
	struct strbuf blob;
	struct strbuf scratch;
};

struct sealer {
	struct workring *ring;
};

static int seal(void *ctx, void *job)
{
	struct seal_job *j = job;

	return chunk_seal(ctx, j->id, j->data.buf, j->data.len, &j->blob,
			  &j->scratch);
}

static void job_init(void *job)
{
	struct seal_job *j = job;

	strbuf_init(&j->data, 0);
	strbuf_init(&j->blob, 0);
	strbuf_init(&j->scratch, 0);
}

static void job_release(void *job)
{
	struct seal_job *j = job;

	strbuf_release(&j->data);
	strbuf_release(&j->blob);
	strbuf_release(&j->scratch);
}

struct handback {
	sealer_fn fn;
	void *arg;
};

static int hand_back(void *arg, void *job)
{
	struct handback *h = arg;
	struct seal_job *j = job;

	return h->fn(h->arg, j->id, j->blob.buf, j->blob.len);
}

struct sealer *sealer_new(const struct backup_key *key)
{
	struct sealer *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->ring = workring_new(SEALER_JOBS, sizeof(struct seal_job), seal,
			       (void *)key, job_init, job_release);
	if (!s->ring) {
		free(s);
		return NULL;
	}
	return s;
}

int sealer_submit(struct sealer *s, const unsigned char id[BT_ID_BYTES],
		  const void *data, size_t len, sealer_fn fn, void *arg)
{
	struct handback h = { fn, arg };
	struct seal_job *j;
	int ret;

	if (!(j = workring_slot(s->ring, hand_back, &h, &ret)))
		return ret;
	memcpy(j->id, id, BT_ID_BYTES);
	strbuf_reset(&j->data);
	strbuf_add(&j->data, data, len);
	workring_publish(s->ring);
	return 0;
}

static int same_id(const void *job, const void *id)
{
	return !memcmp(((const struct seal_job *)job)->id, id, BT_ID_BYTES);
}

int sealer_has(struct sealer *s, const unsigned char id[BT_ID_BYTES])
{
	return workring_find(s->ring, same_id, id);
}

int sealer_drain(struct sealer *s, sealer_fn fn, void *arg)
{
	struct handback h = { fn, arg };

	return workring_drain(s->ring, hand_back, &h);
}

void sealer_free(struct sealer *s)
{
	if (!s)
		return;
	workring_free(s->ring);
	free(s);
}
