/*
 * sandbox_isolated.c - sandbox_eval() in a child process (see sandbox.h).
 */
#include <string.h>

#include "child.h"
#include "error.h"
#include "limits.h"
#include "sandbox.h"
#include "valuecodec.h"
#include "banned.h"

/* The parent's deadline is a little longer than the hook's, so that the
 * hook, which gives the clearer message, normally fires first. */
#define DEADLINE_MARGIN_MS 500u

struct eval_job {
	const char *chunkname;
	const char *src;
	size_t len;
	const struct sandbox_limits *limits;
};

static void eval_in_child(struct strbuf *out, void *arg)
{
	const struct eval_job *job = arg;
	struct value *v = NULL;
	int ret;

	ret = sandbox_eval(&v, job->chunkname, job->src, job->len, job->limits);
	if (ret)
		valuecodec_encode_error(out, ret, error_message());
	else
		valuecodec_encode(out, v);
	value_free(v);
}

int sandbox_eval_isolated(struct value **out, const char *chunkname,
			  const char *src, size_t len,
			  const struct sandbox_limits *limits)
{
	struct eval_job job = { chunkname, src, len, limits };
	struct child_limits cl = {
		limits->milliseconds + DEADLINE_MARGIN_MS,
		LIMIT_CHILD_OUTPUT_BYTES,
		limits->memory_bytes,
	};
	struct strbuf reply = STRBUF_INIT;
	int ret;

	*out = NULL;
	ret = child_run(&reply, chunkname, eval_in_child, &job, &cl);
	if (!ret)
		ret = valuecodec_decode(out, chunkname, reply.buf, reply.len);
	strbuf_release(&reply);
	return ret;
}
