/*
 * sandbox_isolated.c - sandbox_eval() and sandbox_eval_program() in a
 * child process (see sandbox.h).
 */
#include <string.h>

#include "bug.h"
#include "child.h"
#include "error.h"
#include "limits.h"
#include "sandbox.h"
#include "valuecodec.h"
#include "banned.h"

/* The parent's deadline is a little longer than the hook's, so that the
 * hook, which gives the clearer message, normally fires first. */
#define DEADLINE_MARGIN_MS 500u

/* One evaluation handed to the child; prelude NULL means sandbox_eval(). */
struct eval_job {
	const char *prelude_name;
	const char *prelude;
	size_t plen;
	const char *chunkname;
	const char *src;
	size_t len;
	const struct value *input; /* borrowed; the child has it by fork() */
	const struct sandbox_limits *limits;
};

static void eval_in_child(struct strbuf *out, void *arg)
{
	const struct eval_job *job = arg;
	struct value *v = NULL;
	int ret;

	if (job->prelude)
		ret = sandbox_eval_program(&v, job->prelude_name, job->prelude,
					   job->plen, job->chunkname, job->src,
					   job->len, job->input, job->limits);
	else
		ret = sandbox_eval(&v, job->chunkname, job->src, job->len,
				   job->limits);
	if (ret)
		valuecodec_encode_error(out, ret, error_message());
	else
		valuecodec_encode(out, v);
	value_free(v);
}

static int run_job(struct value **out, const struct eval_job *job)
{
	struct child_limits cl = {
		job->limits->milliseconds + DEADLINE_MARGIN_MS,
		LIMIT_CHILD_OUTPUT_BYTES,
		job->limits->memory_bytes,
		0, /* no files: evaluation writes nothing */
		0, /* no processes or threads either */
		0, /* and the default, small number of open files */
	};
	struct strbuf reply = STRBUF_INIT;
	int ret;

	*out = NULL;
	ret = child_run(&reply, job->chunkname, eval_in_child, (void *)job,
			&cl);
	if (!ret)
		ret = valuecodec_decode(out, job->chunkname, reply.buf,
					reply.len);
	strbuf_release(&reply);
	return ret;
}

int sandbox_eval_isolated(struct value **out, const char *chunkname,
			  const char *src, size_t len,
			  const struct sandbox_limits *limits)
{
	struct eval_job job = { NULL, NULL, 0, chunkname, src, len, NULL,
				limits };

	return run_job(out, &job);
}

int sandbox_eval_program_isolated(struct value **out,
				  const char *prelude_name,
				  const char *prelude, size_t plen,
				  const char *chunkname, const char *src,
				  size_t len, const struct value *input,
				  const struct sandbox_limits *limits)
{
	struct eval_job job = { prelude_name, prelude, plen, chunkname, src,
				len, input, limits };

	if (!prelude)
		BUG("sandbox_eval_program_isolated without a prelude");
	return run_job(out, &job);
}
