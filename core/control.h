/*
 * control.h - the daemon's control socket: how a CLI command asks a
 * running `furrow run` to do something now.
 *
 * The socket is a unix stream socket at STATE_DIR/control.sock, mode
 * 0600.  The protocol is one line each way, so it can be driven by hand
 * (`socat - UNIX-CONNECT:/var/lib/furrow/control.sock`):
 *
 *   request   "<verb>[ <arg>]\n", at most LIMIT_CONTROL_LINE_BYTES (512)
 *             bytes, printable; a "\r" before the "\n" is allowed
 *   reply     "ok <text>\n" or "error <text>\n" (just "ok\n" for no text),
 *             at most LIMIT_CONTROL_REPLY_BYTES; then the daemon closes
 *
 *   ping              the daemon is alive
 *   sync-now          sync at once instead of at the next interval
 *   rollback <app>    roll <app> back to its previous slot; <app> is
 *                     [a-z0-9][a-z0-9_.-]{0,62}
 *   backup <app>      take a snapshot of <app>'s data now
 *   drill <app>       restore <app>'s newest snapshot into a scratch
 *                     directory and check it (a backup drill)
 *
 * Who may ask.  The file mode keeps other users from connecting; the
 * daemon checks again with SO_PEERCRED and serves only uid 0 and its
 * own effective uid, so a socket whose mode was loosened by hand is
 * still no way in.  Others get "error permission denied".
 *
 * Not stalling the daemon.  The listening socket is non-blocking, so
 * control_accept() can sit in the daemon's main loop.  Once a peer is
 * accepted, its request must arrive within LIMIT_CONTROL_READ_MS
 * (2000 ms); a silent client costs the daemon that long at most, and
 * only a client the credential check let in can cost it at all.
 * Replying is separate from accepting, so the daemon can answer after
 * the work is done ("rollback" replies when the rollback finished); the
 * accepted connection is the daemon's to reply to and close.
 *
 * Stale sockets.  A daemon that died leaves control.sock behind;
 * control_listen() removes it, but only if it is a socket: anything else
 * at that path is reported and kept.  It does not check whether another
 * daemon is still listening there - the caller holds the state dir lock
 * (furrow.lock), so there is none.  Clients connecting to a stale socket
 * get "connection refused", reported as "no furrow daemon is running".
 *
 * control_listen() changes the process umask for the duration of bind(),
 * so call it before starting threads.  Errors follow core/error.h.
 * The daemon side is control.c, the CLI side control_client.c.
 */
#ifndef FURROW_CONTROL_H
#define FURROW_CONTROL_H

#include "strbuf.h"

#define CONTROL_SOCKET "control.sock" /* its name in state_dir */

struct control_request {
	char verb[32];  /* "ping", "sync-now", "rollback", "backup", "drill" */
	char arg[256];  /* the app name for the last three, else "" */
};

/*
 * Create and listen on STATE_DIR/control.sock: mode 0600 whatever the
 * umask, non-blocking, close-on-exec; a stale socket there is replaced.
 * Returns 0 with the descriptor in *fd_out, or FURROW_EINVAL (something
 * that is not a socket is at the path; it is left alone), FURROW_ELIMIT
 * (the path does not fit a unix socket address), FURROW_EIO.
 */
int control_listen(int *fd_out, const char *state_dir);

/* Close the listening descriptor (if >= 0) and remove the socket file
 * (if state_dir is not NULL and a socket is there). */
void control_close(int fd, const char *state_dir);

/*
 * Accept one waiting client, if any, and read its request into *req.
 * Returns 0 with *conn_fd = -1 when no client is waiting, or when the
 * client was turned away (not allowed, malformed or unknown request,
 * too long, silent past LIMIT_CONTROL_READ_MS: it got "error <why>" and
 * was disconnected).  Returns 0 with *conn_fd >= 0 for a valid request:
 * the caller answers it with control_reply(), which closes it.  Returns
 * FURROW_EIO only when accepting itself fails (e.g. out of descriptors),
 * with the message recorded.
 */
int control_accept(int listen_fd, struct control_request *req, int *conn_fd);

/*
 * Send "ok <text>\n" (ok != 0) or "error <text>\n" on conn_fd and close
 * it.  Control characters in text (newlines) become spaces; text is cut
 * to fit LIMIT_CONTROL_REPLY_BYTES.  Returns 0, or FURROW_EIO if the
 * client is gone or does not take the reply within
 * LIMIT_CONTROL_READ_MS (the descriptor is closed all the same).
 */
/*
 * Parse one request line (without its newline; NUL-terminated, modified
 * in place) into req.  0, or -1 with why[] saying what is wrong.  The
 * parser under control_accept(), exposed for the fuzz target.
 */
int control_parse_request(struct control_request *req, char *line,
			  char *why, size_t why_size);

int control_reply(int conn_fd, int ok, const char *text);

/*
 * Client: send "verb[ arg]\n" to the daemon on STATE_DIR/control.sock
 * and wait for its reply; connecting, sending and the reply together
 * take at most timeout_ms.  Returns 0 when a reply came: *ok is 1 for
 * "ok", 0 for "error", and reply holds the text after that word (the
 * daemon's error message for "error").  Otherwise FURROW_ENOENT (no
 * socket, or a stale one: no daemon is running), FURROW_ETIMEOUT,
 * FURROW_ELIMIT (path too long for a socket address), FURROW_EINVAL
 * (verb or arg not one printable line), FURROW_EIO; the message is
 * recorded.
 */
int control_request(const char *state_dir, const char *verb, const char *arg,
		    unsigned timeout_ms, struct strbuf *reply, int *ok);

#endif
