/*
 * engine_api.h - the container engine: the Docker Engine API, version
 * 1.41, over a unix socket, as Docker serves it and as Podman's
 * compatible service (`podman system service`) does.  Only the calls the
 * container driver (core/driver_container.c) needs, typed.
 *
 * Every request goes through http_unix() (core/http.h) with a deadline
 * (LIMIT_ENGINE_CALL_MS unless said otherwise) and a cap on the answer
 * (LIMIT_ENGINE_RESPONSE_BYTES); every answer is parsed with json_parse()
 * (core/json.h) and checked field by field: an id is 64 hex digits, a
 * name a string of bounded length, a flag a boolean.  A malformed or
 * oversized answer is an error, never trusted in part.
 *
 * Errors, with the message recorded (error.h):
 *   FURROW_EIO       the engine did not answer (no socket, refused, reset):
 *                    "container engine at SOCKET is not answering: GET
 *                    /v1.41/...: connection refused"; or it answered a
 *                    failure: "container engine at SOCKET: POST /v1.41/...:
 *                    status 500: <the engine's message>"
 *   FURROW_ETIMEOUT  no answer within the deadline, or a pull that stalled
 *   FURROW_ENOENT    the named container or exec session does not exist
 *                    (status 404), where a function says so
 *   FURROW_ESYNTAX   an answer that is not the JSON it should be
 *   FURROW_ELIMIT    an answer over its cap
 */
#ifndef FURROW_ENGINE_API_H
#define FURROW_ENGINE_API_H

#include <stddef.h>

#include "appspec.h"
#include "limits.h"
#include "strbuf.h"

/* The API version furrow speaks, the first component of every path. */
#define ENGINE_API_VERSION "v1.41"

#define ENGINE_NAME_BYTES 256   /* a container name kept, with NUL */

/* A container, as inspect or list reports it. */
struct engine_container {
	char id[65];                 /* 64 hex digits */
	char name[ENGINE_NAME_BYTES]; /* without the leading '/' */
	int running;                 /* State.Running (list: State "running") */
	char state[32];              /* "running", "exited", "created", ...;
	                                "" if the engine did not say */
	int exit_code;               /* inspect: State.ExitCode; list: -1 */
	char started_at[40];         /* inspect: State.StartedAt, RFC 3339;
	                                list and unknown: "" */
	struct value *labels;        /* string -> string; never NULL */
};

/* The value of label key, or NULL when c has no such label. */
const char *engine_container_label(const struct engine_container *c,
				   const char *key);

/* Free what engine_container_inspect() gave; accepts NULL. */
void engine_container_free(struct engine_container *c);

/* Free what engine_container_list() gave; accepts NULL. */
void engine_container_list_free(struct engine_container *list, size_t count);

/* GET /_ping: 0 when the engine answers "OK". */
int engine_ping(const char *socket);

/*
 * Whether image ref ("registry/path@sha256:..." or "registry/path:tag")
 * is in the engine's image store: 1 yes, 0 no, or a negative error.
 */
int engine_image_present(const char *socket, const char *ref);

/*
 * Pull ref once (POST /images/create?fromImage=ref).  The whole pull
 * must end within timeout_ms, and a pull that sends nothing for idle_ms
 * has stalled (FURROW_ETIMEOUT).  The engine reports progress as a
 * stream of JSON objects and a failure as the last of them, with a 200
 * status: its last LIMIT_ENGINE_PULL_TAIL_BYTES are kept and the last
 * object decides.  Returns 0 when the engine reported no error (the
 * caller confirms with engine_image_present()), FURROW_EIO with "pull of
 * REF failed: <the engine's error>" otherwise.  Retrying is the caller's
 * business.
 */
int engine_image_pull(const char *socket, const char *ref,
		      unsigned timeout_ms, unsigned idle_ms,
		      const char *registry_auth);

/* A bind mount of a host directory. */
struct engine_mount {
	const char *source;          /* absolute path on the host */
	const char *target;          /* absolute path in the container */
	int read_only;
};

/* What to create.  Every pointer may be NULL when its count is 0. */
struct engine_create {
	const char *name;            /* container name */
	const char *image;           /* reference, as for the pull */
	const struct appspec_pair *labels;
	size_t label_count;
	char *const *cmd;            /* NULL-terminated; NULL: the image's */
	const struct appspec_pair *env;
	size_t env_count;
	const char *user;            /* NULL: the image's */
	const struct appspec_port *ports;
	size_t port_count;
	const struct engine_mount *mounts;
	size_t mount_count;
	unsigned long long memory;   /* bytes; 0: no limit */
	double cpus;                 /* 0: no limit */
	long pids;                   /* 0: no limit */
	long nofile;                 /* 0: the engine's default */
	int read_only;               /* read-only root filesystem */
	int privileged;
	const char *network;         /* "host", "none" or "bridge" */
};

/*
 * The body of the create request for c (name and labels aside from the
 * body: the name goes in the query; labels are left out when
 * with_labels is 0), appended to sb.  Deterministic: the same c gives
 * the same bytes, so its hash identifies a configuration.
 */
void engine_create_body(struct strbuf *sb, const struct engine_create *c,
			int with_labels);

/*
 * Create container c->name (POST /containers/create).  On success id
 * holds the new container's id.  A name already taken is the engine's
 * status 409, FURROW_EIO with its message.
 */
int engine_container_create(const char *socket, const struct engine_create *c,
			    char id[65]);

/* Start container id (a name or an id); 0 also when it was running.
 * FURROW_ENOENT when there is no such container. */
int engine_container_start(const char *socket, const char *id);

/* Stop container id: SIGTERM (or the image's stop signal), SIGKILL
 * after grace_s seconds; 0 also when it was not running.  FURROW_ENOENT
 * when there is no such container. */
int engine_container_stop(const char *socket, const char *id,
			  unsigned grace_s);

/* Remove container id (force: stop it first); its anonymous volumes
 * stay.  FURROW_ENOENT when there is no such container. */
int engine_container_remove(const char *socket, const char *id, int force);

/*
 * Inspect container name_or_id.  On success *out belongs to the caller
 * (engine_container_free()).  FURROW_ENOENT (with a message) when there
 * is no such container.
 */
int engine_container_inspect(struct engine_container **out,
			     const char *socket, const char *name_or_id);

/*
 * Every container, running or not, that has label "KEY=VALUE" (label is
 * that string).  On success *out holds *count of them (the caller frees
 * with engine_container_list_free()); at most LIMIT_ENGINE_CONTAINERS.
 */
int engine_container_list(struct engine_container **out, size_t *count,
			  const char *socket, const char *label);

/* What engine_exec() reports. */
struct engine_exec_result {
	int exit_code;
	char output[LIMIT_ENGINE_EXEC_OUTPUT_BYTES + 1]; /* stdout and stderr
	                                as they came, NUL-terminated */
	size_t output_len;
	int truncated;               /* there was more */
};

/*
 * Run argv (NULL-terminated) in running container id, as its default
 * user, and wait for it: exec create, start attached (the output is
 * read, the first LIMIT_ENGINE_EXEC_OUTPUT_BYTES kept), exec inspect for
 * the exit code.  The whole run must end within timeout_ms
 * (FURROW_ETIMEOUT; the engine has no call to kill an exec session, so
 * the process may outlive it).  Returns 0 when it ran, whatever its exit
 * code.
 */
int engine_exec(struct engine_exec_result *out, const char *socket,
		const char *id, char *const *argv, unsigned timeout_ms);

#endif
