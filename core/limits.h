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

/* Results handed from a child process to furrow (core/child.c) */
#define LIMIT_CHILD_OUTPUT_BYTES  (64u * 1024 * 1024)
#define LIMIT_CHILD_OPEN_FILES    16u   /* evaluation children */
#define LIMIT_GIT_OPEN_FILES      1024u /* fetch and read children */

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

/* --- Git sync (core/gitsync.c, core/repopath.c, core/bundle.c) --- */
/* Transfer: one fetch or bundle sideload. */
#define LIMIT_GIT_PACK_BYTES      (512ull * 1024 * 1024) /* pack bytes received */
#define LIMIT_GIT_PACK_OBJECTS    1000000u               /* objects in that pack */
#define LIMIT_GIT_CONNECT_SECONDS 30u   /* TCP connect, per address */
#define LIMIT_GIT_IDLE_SECONDS    60u   /* no byte sent or received */
#define LIMIT_GIT_FETCH_SECONDS   900u  /* whole fetch, wall clock */
#define LIMIT_GIT_URL_BYTES       2048
#define LIMIT_GIT_REF_BYTES       255
#define LIMIT_GIT_CA_FILE_BYTES   (8u * 1024 * 1024) /* PEM CA bundle */
/* Reading the object database. */
#define LIMIT_GIT_COMMIT_BYTES    (1u * 1024 * 1024)  /* one commit object */
#define LIMIT_GIT_TREE_BYTES      (16u * 1024 * 1024) /* one tree object */
#define LIMIT_GIT_TREE_ENTRIES    50000u  /* one directory, read or listed */
#define LIMIT_GIT_WALK_ENTRIES    2000000u /* completeness check of a commit */
#define LIMIT_GIT_PATH_BYTES      1024    /* path inside the tree */
#define LIMIT_GIT_PATH_DEPTH      64      /* components in that path / tree depth */
#define LIMIT_GIT_SUMMARY_BYTES   256     /* commit summary kept */
/* Bundles (core/bundle.c): everything before the pack. */
#define LIMIT_BUNDLE_HEADER_BYTES (1u * 1024 * 1024)
#define LIMIT_BUNDLE_REFS         10000u
#define LIMIT_BUNDLE_PREREQS      10000u
/* --- end Git sync --- */

/* --- SSH signatures (core/sshwire.c, sshsig.c, allowed_signers.c,
 *     commitsig.c, verify.c) --- */
#define LIMIT_ALLOWED_SIGNERS_BYTES   (1u * 1024 * 1024) /* one trust file */
#define LIMIT_ALLOWED_SIGNERS_ENTRIES 4096    /* keys in one trust file */
#define LIMIT_ALLOWED_SIGNERS_LINE    8192    /* one line, 16384-bit RSA fits */
#define LIMIT_SSH_KEY_BLOB_BYTES      4096    /* one public key blob */
#define LIMIT_SSHSIG_ARMOR_BYTES      (64u * 1024) /* armored signature */
#define LIMIT_SSHSIG_NAMESPACE_BYTES  256     /* namespace string */
#define LIMIT_RSA_MIN_BITS            2048    /* smaller RSA keys rejected */
#define LIMIT_RSA_MAX_BITS            16384   /* OpenSSH's own maximum */
#define LIMIT_SIGNED_COMMIT_BYTES     (1u * 1024 * 1024) /* raw commit checked
                                          for a signature (= git reader cap) */
/* --- end SSH signatures --- */

/* --- Sync (core/sync.c) --- */
#define LIMIT_SYNC_READ_SECONDS   120u  /* a read child: commit, files */
#define LIMIT_SYNC_BACKOFF_BASE   1.0   /* s, first retry ceiling */
#define LIMIT_SYNC_BACKOFF_CAP    60.0  /* s, largest retry ceiling */

/* --- Desired state (core/desired.c, lua/desired.lua) --- */
#define LIMIT_DESIRED_FILE_BYTES   (1u * 1024 * 1024)  /* furrow.lua size */
#define LIMIT_DESIRED_MEMORY_BYTES (64u * 1024 * 1024) /* Lua heap */
#define LIMIT_DESIRED_INSTRUCTIONS 50000000ul          /* Lua VM instructions */
#define LIMIT_DESIRED_MILLISECONDS 5000u               /* wall clock */
#define LIMIT_DESIRED_POLICIES     256     /* policy declarations */
#define LIMIT_DESIRED_APPS         10000   /* app declarations */
/* --- end desired state --- */

/* --- App specs (core/appspec.c) --- */
#define LIMIT_APP_STRING_BYTES    4096    /* one string: env value, argument,
                                             URL, image, path */
#define LIMIT_APP_KEY_BYTES       128     /* env or secret name */
#define LIMIT_APP_ENV             256     /* env entries */
#define LIMIT_APP_PORTS           64      /* published ports */
#define LIMIT_APP_EXEC_ARGS       256     /* exec, health.exec, backup.pre */
#define LIMIT_APP_DEPENDS         64      /* depends_on entries */
#define LIMIT_APP_VOLUMES         64      /* volumes, data entries */
#define LIMIT_APP_BACKUP_PATHS    64      /* backup.paths entries */
#define LIMIT_APP_SECRETS         256     /* secrets entries */
#define LIMIT_APP_SELECTOR        64      /* on = { ... } entries (= labels) */
#define LIMIT_APP_SECONDS         86400.0 /* health timings, at most a day */
#define LIMIT_APP_RETRIES         1000    /* health.retries */
#define LIMIT_APP_BACKUP_KEEP     10000   /* backup.keep */
#define LIMIT_APP_ERRORS          20      /* messages shown for one file */
/* --- end app specs --- */

/* --- Health checks (core/health.c, core/http.c) --- */
#define LIMIT_HEALTH_BODY_BYTES   (64u * 1024) /* HTTP body read for `body` */
#define LIMIT_HEALTH_OUTPUT_BYTES 512     /* exec output kept for the message */
/* --- end health checks --- */

/* --- Backups (core/backup*.c) --- */
#define LIMIT_BACKUP_CHUNK_BYTES  (256u * 1024)  /* = CHUNKER_MAX */
#define LIMIT_BACKUP_BLOB_BYTES   (LIMIT_BACKUP_CHUNK_BYTES + 4096) /* sealed */
#define LIMIT_BACKUP_TREE_BYTES   (256u * 1024 * 1024) /* one manifest */
#define LIMIT_BACKUP_RECORD_BYTES (8u * 1024 * 1024)   /* one snapshot record */
#define LIMIT_BACKUP_BATCH_BYTES  (6u * 1024 * 1024)   /* chunks per commit */
#define BACKUP_MAP_MAX_BYTES      (1ull << 40)  /* backup store map, 1 TiB */
#define BACKUP_MAP_INITIAL_BYTES  (64u * 1024 * 1024)
#define LIMIT_BACKUP_RMTREE_DEPTH 512 /* levels of a restored tree removed (an
                                         open fd each); snapshots nest 256 */
/* --- end backups --- */

/* --- Policies (core/policy.c, lua/policy.lua, policies/) --- */
#define LIMIT_POLICY_FILE_BYTES    (1u * 1024 * 1024)  /* one policy file */
#define LIMIT_POLICY_MEMORY_BYTES  (32u * 1024 * 1024) /* Lua heap */
#define LIMIT_POLICY_INSTRUCTIONS  20000000ul          /* Lua VM instructions */
#define LIMIT_POLICY_MILLISECONDS  2000u               /* wall clock */
#define LIMIT_POLICY_REASON_BYTES  512     /* a deny or defer reason */
/* --- end policies --- */

/* --- Included desired-state files (core/desired.c, core/sync.c,
 *     cmd/cmd_check.c): the .lua files of a tree furrow.lua may include --- */
#define LIMIT_DESIRED_INCLUDE_FILES 256   /* .lua files offered, besides furrow.lua */
#define LIMIT_DESIRED_INCLUDE_BYTES (8u * 1024 * 1024) /* their total size */
#define LIMIT_DESIRED_INCLUDE_DEPTH 8     /* nested includes (lua/desired.lua) */
/* --- end included files --- */

/* --- App slots (core/slots.c): apps/<app>/{a,b} --- */
#define LIMIT_SLOT_FILES          10000   /* files staged into one slot */
#define LIMIT_SLOT_BYTES          (1ull * 1024 * 1024 * 1024) /* their total size */
#define LIMIT_SLOT_PATH_DEPTH     LIMIT_GIT_PATH_DEPTH /* directory levels walked
                                             when emptying or verifying a slot */
#define LIMIT_SLOT_MANIFEST_BYTES (16u * 1024 * 1024) /* .furrow-slot; fits
                                             LIMIT_SLOT_FILES full-length paths */
#define LIMIT_SLOT_DRIFT          1000    /* differences kept in one report */
/* --- end app slots --- */

/* --- App files read from a commit (core/sync_tree.c): one directory,
 *     recursively, for staging into a slot --- */
#define LIMIT_TREE_FILES          LIMIT_SLOT_FILES /* files below the directory */
#define LIMIT_TREE_BYTES          (48u * 1024 * 1024) /* their total size; they
                                             travel through the child pipe,
                                             LIMIT_CHILD_OUTPUT_BYTES (checked
                                             at compile time in sync_tree.c) */
/* --- end app files --- */

/* --- Supervised services (core/supervise.c) --- */
#define LIMIT_SERVICE_KILL_WAIT_MS    5000u  /* after SIGKILL, for the group */
#define LIMIT_SERVICE_GROUPS          256    /* supplementary groups of the user */
#define LIMIT_SERVICE_BACKOFF_BASE    1.0    /* s, first restart ceiling */
#define LIMIT_SERVICE_BACKOFF_CAP     60.0   /* s, largest restart ceiling */
#define LIMIT_SERVICE_STABLE_SECONDS  60.0   /* a run this long resets backoff */
/* --- end supervised services --- */

/* --- Apply journal and history (core/journal.c) --- */
#define LIMIT_JOURNAL_RECORD_BYTES (4u * 1024) /* one in-flight record */
#define LIMIT_HISTORY_REASON_BYTES 1024   /* a history reason (= FURROW_ERROR_MAX) */
#define LIMIT_HISTORY_ENTRY_BYTES  (16u * 1024) /* one history record, escaped */
#define LIMIT_HISTORY_LIST         1000   /* entries one history_list() returns */
#define LIMIT_HISTORY_KEEP         10000  /* entries kept; older ones pruned */
#define LIMIT_HISTORY_SCAN         100000 /* entries it reads to find them */
/* --- end apply journal --- */

/* --- Outbox (core/outbox.c); its item and byte bounds are
 *     struct outbox_limits (outbox.h) --- */
#define LIMIT_OUTBOX_REASON_BYTES  1024   /* a dead-letter reason (= FURROW_ERROR_MAX) */
/* --- end outbox --- */

/* --- Report delivery (core/report_send.c, core/http.c) --- */
#define LIMIT_REPORT_SECONDS        10.0  /* one POST, when report.timeout is 0 */
#define LIMIT_REPORT_RESPONSE_BYTES (16u * 1024) /* answer body kept */
#define LIMIT_REPORT_REASON_BYTES   200u  /* answer text kept in a dead letter
                                             or a message: its first line */
#define LIMIT_REPORT_BACKOFF_BASE   1.0   /* s, first retry ceiling */
#define LIMIT_REPORT_BACKOFF_CAP    300.0 /* s, largest retry ceiling */
#define LIMIT_REPORT_RETRY_AFTER    3600.0 /* s, longest Retry-After honoured */
#define LIMIT_REPORT_IDLE_SECONDS   60.0  /* empty outbox: look again after
                                             this long even without a kick */
/* --- end report delivery --- */

/* --- Update locks (core/updlock.c): apps/<app>/data/.furrow-lock --- */
#define LIMIT_ENGINE_AUTH_BYTES   16384u /* containers.registry_auth_file */
#define LIMIT_UPDLOCK_BYTES        4096u  /* the whole lock file */
#define LIMIT_UPDLOCK_REASON_BYTES 200u   /* reason kept from its first line */
/* --- end update locks --- */

/* --- Control socket (core/control.c): STATE_DIR/control.sock --- */
#define LIMIT_CONTROL_LINE_BYTES   512u   /* one request, newline included */
#define LIMIT_CONTROL_REPLY_BYTES  4096u  /* one reply, newline included */
#define LIMIT_CONTROL_READ_MS      2000u  /* to receive a request, or to
                                             send a reply, after accept */
#define LIMIT_CONTROL_BACKLOG      16     /* connections waiting for accept */
/* --- end control socket --- */

/* --- Container engine API (core/engine_api.c, core/driver_container.c) --- */
#define LIMIT_ENGINE_RESPONSE_BYTES (4u * 1024 * 1024) /* one answer: inspect,
                                             list, errors */
#define LIMIT_ENGINE_CALL_MS       30000u /* one call, connect included (a
                                             stop adds its own grace) */
#define LIMIT_ENGINE_PULL_SECONDS  1800u  /* one pull, wall clock */
#define LIMIT_ENGINE_PULL_IDLE_SECONDS 120u /* a pull that sends no progress
                                             this long has stalled */
#define LIMIT_ENGINE_PULL_TAIL_BYTES (64u * 1024) /* of the pull's progress
                                             stream, kept for its verdict */
#define LIMIT_ENGINE_PULL_TRIES    3      /* pulls in one start, in all: the
                                             next pass is the next retry */
#define LIMIT_ENGINE_BACKOFF_BASE  1.0    /* s, first wait between pulls */
#define LIMIT_ENGINE_BACKOFF_CAP   30.0   /* s, longest wait between pulls */
#define LIMIT_ENGINE_CONTAINERS    10000u /* containers one list returns */
#define LIMIT_ENGINE_EXEC_OUTPUT_BYTES LIMIT_HEALTH_OUTPUT_BYTES /* exec output
                                             kept */
/* --- end container engine API --- */

/* --- systemd units (core/driver_systemd.c) --- */
#define LIMIT_SYSTEMD_UNIT_BYTES   (64u * 1024) /* an app's .service file */
#define LIMIT_SYSTEMCTL_OUTPUT_BYTES (16u * 1024) /* kept of one systemctl's
                                             output */
#define LIMIT_SYSTEMCTL_MS         120000u /* one systemctl call; start and
                                             stop wait for systemd's job,
                                             whose own default timeout is
                                             90 s */
/* --- end systemd units --- */

#endif
