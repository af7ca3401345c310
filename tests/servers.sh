# servers.sh - Git servers for tests: git daemon, and nginx + fcgiwrap +
# git-http-backend over HTTPS (self-signed CA) and plain HTTP.
#
#   . tests/servers.sh
#   SERVERS_DIR=$TEST_DIR/servers        # state: pids, logs, configs
#   port=$(start_git_daemon "$base")     # git://127.0.0.1:$port/<repo>
#   port=$(start_https_git "$base" "$TEST_DIR/ca.pem" [TOKEN [USER]])
#       https://localhost:$port/<repo>   (certificate for DNS:localhost only:
#                                         mbedTLS 2.28 does not match IP SANs)
#       http://localhost:$(cat "$SERVERS_DIR/http.port")/<repo>
#       with TOKEN: https://localhost:$port/private/<repo> needs HTTP basic
#       auth USER (default furrow) / TOKEN; $SERVERS_DIR/nginx/access.log
#       records the user name that arrived.
#   stop_servers
#
# Every server binds 127.0.0.1 on a free port and runs in its own process
# group, recorded in $SERVERS_DIR/pgids; stop_servers kills exactly those
# groups.  A watchdog stops them too when $SERVERS_OWNER (default: the
# shell that sourced this file) exits, so a crashed test leaves nothing behind.
# Needs: git, nginx (nginx-light), fcgiwrap, openssl, python3 (free ports).

servers_init() {
	: "${SERVERS_DIR:?set SERVERS_DIR}"
	mkdir -p "$SERVERS_DIR"
	if [ ! -f "$SERVERS_DIR/watchdog.started" ]; then
		local owner=${SERVERS_OWNER:-$$}
		: >"$SERVERS_DIR/watchdog.started"
		setsid bash -c '
			while kill -0 '"$owner"' 2>/dev/null && [ -f "$1/watchdog.started" ]; do
				sleep 1
			done
			[ -f "$1/pgids" ] && while read -r g; do kill -TERM -- "-$g" 2>/dev/null; done <"$1/pgids"
			:' servers-watchdog "$SERVERS_DIR" </dev/null >/dev/null 2>&1 &
		echo $! >"$SERVERS_DIR/watchdog.pid"
	fi
}

# A TCP port free on 127.0.0.1 right now.
servers_free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Run "$@" in a new session (so its process group id is its pid), logging
# to $1 (shifted off); records the group.
servers_spawn() {
	local log=$1
	shift
	setsid "$@" </dev/null >>"$log" 2>&1 &
	echo $! >>"$SERVERS_DIR/pgids"
}

# Wait until something listens on 127.0.0.1:$1 (up to ~5 s).
servers_wait_port() {
	local i
	for i in $(seq 1 50); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "servers.sh: nothing listens on port $1" >&2
	return 1
}

# start_git_daemon BASE: serve every repository under BASE; prints the port.
start_git_daemon() {
	local base=$1 port
	servers_init
	port=$(servers_free_port)
	servers_spawn "$SERVERS_DIR/git-daemon.log" git daemon --reuseaddr \
		--listen=127.0.0.1 --port="$port" --base-path="$base" \
		--export-all --verbose "$base"
	servers_wait_port "$port" || return 1
	echo "$port"
}

# start_https_git BASE CA_OUT [TOKEN [USER]]: prints the https port.
start_https_git() {
	local base=$1 ca_out=$2 token=${3:-} user=${4:-furrow}
	local d=$SERVERS_DIR/nginx port http_port private=''
	servers_init
	mkdir -p "$d/tmp" "$d/tls"
	# A CA and a server certificate it signs, for DNS:localhost.
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj '/CN=furrow-test-ca' \
		-keyout "$d/tls/ca.key" -out "$d/tls/ca.pem" 2>/dev/null || return 1
	openssl req -newkey rsa:2048 -nodes -subj '/CN=localhost' \
		-keyout "$d/tls/key.pem" -out "$d/tls/req.pem" 2>/dev/null || return 1
	printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n' >"$d/tls/ext.cnf"
	openssl x509 -req -in "$d/tls/req.pem" -CA "$d/tls/ca.pem" -CAkey "$d/tls/ca.key" \
		-CAcreateserial -days 2 -extfile "$d/tls/ext.cnf" -out "$d/tls/cert.pem" 2>/dev/null || return 1
	cp "$d/tls/ca.pem" "$ca_out"
	if [ -n "$token" ]; then
		printf '%s:%s\n' "$user" "$(openssl passwd -apr1 "$token")" >"$d/htpasswd"
		private="
    location ~ ^/private/(.*\\.git)(/.*)?\$ {
      auth_basic \"furrow-test\";
      auth_basic_user_file $d/htpasswd;
      fastcgi_pass unix:$d/fcgiwrap.sock;
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME /usr/lib/git-core/git-http-backend;
      fastcgi_param GIT_PROJECT_ROOT $base;
      fastcgi_param GIT_HTTP_EXPORT_ALL \"\";
      fastcgi_param PATH_INFO /\$1\$2;
      fastcgi_param REMOTE_USER \$remote_user;
    }"
	fi
	port=$(servers_free_port)
	http_port=$(servers_free_port)
	echo "$http_port" >"$SERVERS_DIR/http.port"
	# user root: the worker must reach the fcgiwrap socket (else 502).
	cat >"$d/nginx.conf" <<EOF
user root;
worker_processes 1;
daemon off;
pid $d/nginx.pid;
error_log $d/error.log info;
events { worker_connections 64; }
http {
  log_format furrow '\$remote_addr user=\$remote_user "\$request" \$status';
  access_log $d/access.log furrow;
  client_body_temp_path $d/tmp/body;
  fastcgi_temp_path $d/tmp/fastcgi;
  proxy_temp_path $d/tmp/proxy;
  uwsgi_temp_path $d/tmp/uwsgi;
  scgi_temp_path $d/tmp/scgi;
  server {
    listen 127.0.0.1:$port ssl;
    listen 127.0.0.1:$http_port;
    ssl_certificate     $d/tls/cert.pem;
    ssl_certificate_key $d/tls/key.pem;
    client_max_body_size 0;$private
    location ~ ^/(.*\\.git)(/.*)?\$ {
      fastcgi_pass unix:$d/fcgiwrap.sock;
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME /usr/lib/git-core/git-http-backend;
      fastcgi_param GIT_PROJECT_ROOT $base;
      fastcgi_param GIT_HTTP_EXPORT_ALL "";
      fastcgi_param PATH_INFO \$uri;
      fastcgi_param REMOTE_USER \$remote_user;
    }
  }
}
EOF
	rm -f "$d/fcgiwrap.sock"
	servers_spawn "$d/fcgiwrap.log" fcgiwrap -c 2 -s "unix:$d/fcgiwrap.sock"
	servers_spawn "$d/nginx.log" nginx -c "$d/nginx.conf" -e "$d/error.log"
	servers_wait_port "$port" || { cat "$d/nginx.log" "$d/error.log" >&2; return 1; }
	echo "$port"
}

stop_servers() {
	local g
	[ -n "${SERVERS_DIR:-}" ] || return 0
	if [ -f "$SERVERS_DIR/pgids" ]; then
		while read -r g; do
			kill -TERM -- "-$g" 2>/dev/null
		done <"$SERVERS_DIR/pgids"
		sleep 0.2
		while read -r g; do
			kill -KILL -- "-$g" 2>/dev/null
		done <"$SERVERS_DIR/pgids"
		rm -f "$SERVERS_DIR/pgids"
	fi
	# The watchdog ends itself once its flag file is gone.
	rm -f "$SERVERS_DIR/watchdog.started"
	return 0
}

# start_git_daemon_netns NS ADDR PORT BASE: a git daemon inside the network
# namespace NS (`ip netns`), listening on ADDR:PORT there, serving every
# repository under BASE.  --reuseaddr, so it can be started again on the same
# port after stop_git_daemon_netns.  Its process group is recorded like any
# other server's (stop_servers and the watchdog stop it) and also in
# $SERVERS_DIR/git-daemon.NS.pgid.
start_git_daemon_netns() {
	local ns=$1 addr=$2 port=$3 base=$4 i
	servers_init
	servers_spawn "$SERVERS_DIR/git-daemon.$ns.log" ip netns exec "$ns" \
		git daemon --reuseaddr --listen="$addr" --port="$port" \
		--base-path="$base" --export-all --verbose "$base"
	tail -n 1 "$SERVERS_DIR/pgids" >"$SERVERS_DIR/git-daemon.$ns.pgid"
	for i in $(seq 1 50); do
		ip netns exec "$ns" bash -c 'exec 3<>"/dev/tcp/$0/$1"' \
			"$addr" "$port" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "servers.sh: nothing listens on $addr:$port in netns $ns" >&2
	return 1
}

# stop_git_daemon_netns NS: stop the daemon start_git_daemon_netns started in
# NS (its whole process group), and wait until it is gone.
stop_git_daemon_netns() {
	local ns=$1 g i
	[ -f "$SERVERS_DIR/git-daemon.$ns.pgid" ] || return 0
	g=$(cat "$SERVERS_DIR/git-daemon.$ns.pgid")
	kill -TERM -- "-$g" 2>/dev/null
	for i in $(seq 1 50); do
		kill -0 -- "-$g" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL -- "-$g" 2>/dev/null
	sed -i "/^$g\$/d" "$SERVERS_DIR/pgids"
	rm -f "$SERVERS_DIR/git-daemon.$ns.pgid"
	return 0
}

# --- WebDAV over HTTPS: the offsite copy of backups (core/offsite.c) ---------
#
#   start_webdav_https DIR TOKEN
#       nginx serving DIR at https://localhost:PORT/ with `dav_methods PUT;
#       create_full_put_path on;` (no DELETE, no other DAV method), every
#       request needing "Authorization: Bearer TOKEN" (else 401), request
#       bodies up to 1 MiB (client_max_body_size 1m; more: 413).  TOKEN is
#       [A-Za-z0-9._~+/=-] only.  Sets and exports
#         WEBDAV_URL   https://localhost:PORT/  the base URL (objects below it)
#         WEBDAV_CA    the PEM CA that signed the server certificate
#                      (DNS:localhost: mbedTLS 2.28 does not match IP SANs)
#         WEBDAV_PORT  PORT
#       and writes the same assignments to $SERVERS_DIR/webdav/env, for a
#       caller that ran it in a child shell (`. "$SERVERS_DIR/webdav/env"`).
#       For read-back tests the server also lies in one place: PUT
#       /liar/NAME stores DIR/liar/NAME like any other PUT, but GET and HEAD
#       of /liar/NAME answer DIR/liar-shadow/NAME (404 if absent).
#       $SERVERS_DIR/webdav/access.log has `addr "request" status bytes
#       "content-type"` lines (never the Authorization header).
#   stop_webdav_https
#       stop that nginx (and wait until it is gone); stop_servers does too.
#   start_webdav_https_netns NS ADDR PORT DIR TOKEN
#       the same inside the network namespace NS (`ip netns`), listening on
#       ADDR:PORT there, so a test can cut, shape or drop the link (veth,
#       tc, iptables in NS) in the middle of a transfer.  The certificate
#       names ADDR as DNS:ADDR and IP:ADDR (mbedTLS compares DNS names as
#       strings, so https://ADDR:PORT/ verifies).  Sets the same variables
#       (WEBDAV_URL=https://ADDR:PORT/); state in $SERVERS_DIR/webdav.NS,
#       env file $SERVERS_DIR/webdav.NS/env.
#   stop_webdav_https_netns NS
#       stop the nginx started in NS.

# servers_webdav_tls D NAME...: a CA and a server certificate it signs, for
# DNS:NAME for every NAME, and IP:NAME too for a NAME that is an address:
# $D/tls/{ca.pem,cert.pem,key.pem}.
servers_webdav_tls() {
	local d=$1 san='' n
	shift
	for n in "$@"; do
		san="$san${san:+,}DNS:$n"
		case $n in *[!0-9.]*) ;; *) san="$san,IP:$n" ;; esac
	done
	mkdir -p "$d/tls"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj '/CN=furrow-webdav-ca' \
		-keyout "$d/tls/ca.key" -out "$d/tls/ca.pem" 2>/dev/null || return 1
	openssl req -newkey rsa:2048 -nodes -subj "/CN=$1" \
		-keyout "$d/tls/key.pem" -out "$d/tls/req.pem" 2>/dev/null || return 1
	printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\n' "$san" >"$d/tls/ext.cnf"
	openssl x509 -req -in "$d/tls/req.pem" -CA "$d/tls/ca.pem" -CAkey "$d/tls/ca.key" \
		-CAcreateserial -days 2 -extfile "$d/tls/ext.cnf" \
		-out "$d/tls/cert.pem" 2>/dev/null
}

# servers_webdav_conf D LISTEN DIR TOKEN: $D/nginx.conf for a WebDAV PUT/GET
# server on LISTEN (addr:port) over HTTPS, serving DIR, wanting TOKEN.
servers_webdav_conf() {
	local d=$1 listen=$2 dir=$3 token=$4
	case $token in
	'' | *[!A-Za-z0-9._~+/=-]*)
		echo "servers.sh: a WebDAV token is [A-Za-z0-9._~+/=-]+" >&2
		return 1 ;;
	esac
	mkdir -p "$d/tmp" "$dir"
	# user root: the worker writes into DIR, wherever the test made it.
	cat >"$d/nginx.conf" <<CONF
user root;
worker_processes 1;
daemon off;
pid $d/nginx.pid;
error_log $d/error.log info;
events { worker_connections 64; }
http {
  log_format furrow '\$remote_addr "\$request" \$status \$body_bytes_sent "\$content_type"';
  access_log $d/access.log furrow;
  client_body_temp_path $d/tmp/body;
  proxy_temp_path $d/tmp/proxy;
  fastcgi_temp_path $d/tmp/fastcgi;
  uwsgi_temp_path $d/tmp/uwsgi;
  scgi_temp_path $d/tmp/scgi;
  map \$http_authorization \$furrow_bearer_ok {
    default 0;
    "Bearer $token" 1;
  }
  server {
    listen $listen ssl;
    ssl_certificate     $d/tls/cert.pem;
    ssl_certificate_key $d/tls/key.pem;
    root $dir;
    client_max_body_size 1m;
    location / {
      if (\$furrow_bearer_ok = 0) { return 401; }
      dav_methods PUT;
      create_full_put_path on;
      dav_access user:rw;
    }
    # The liar: what was PUT is stored, something else is read back.
    location /liar/ {
      if (\$furrow_bearer_ok = 0) { return 401; }
      dav_methods PUT;
      create_full_put_path on;
      dav_access user:rw;
      if (\$request_method ~ ^(GET|HEAD)\$) {
        rewrite ^/liar/(.*)\$ /liar-shadow/\$1 break;
      }
    }
  }
}
CONF
}

# servers_webdav_env D URL PORT: set, export and record WEBDAV_*.
servers_webdav_env() {
	WEBDAV_URL=$2
	WEBDAV_CA=$1/tls/ca.pem
	WEBDAV_PORT=$3
	export WEBDAV_URL WEBDAV_CA WEBDAV_PORT
	printf 'WEBDAV_URL=%q\nWEBDAV_CA=%q\nWEBDAV_PORT=%q\nexport WEBDAV_URL WEBDAV_CA WEBDAV_PORT\n' \
		"$WEBDAV_URL" "$WEBDAV_CA" "$WEBDAV_PORT" >"$1/env"
}

# servers_stop_group FILE: stop the process group whose id FILE holds (TERM,
# then KILL after ~5 s), forget it, remove FILE.
servers_stop_group() {
	local f=$1 g i
	[ -f "$f" ] || return 0
	g=$(cat "$f")
	kill -TERM -- "-$g" 2>/dev/null
	for i in $(seq 1 50); do
		kill -0 -- "-$g" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL -- "-$g" 2>/dev/null
	sed -i "/^$g\$/d" "$SERVERS_DIR/pgids"
	rm -f "$f"
	return 0
}

start_webdav_https() {
	local dir=$1 token=$2 d=$SERVERS_DIR/webdav port
	servers_init
	mkdir -p "$d"
	servers_webdav_tls "$d" localhost || return 1
	port=$(servers_free_port)
	servers_webdav_conf "$d" "127.0.0.1:$port" "$dir" "$token" || return 1
	servers_spawn "$d/nginx.log" nginx -c "$d/nginx.conf" -e "$d/error.log"
	tail -n 1 "$SERVERS_DIR/pgids" >"$d/pgid"
	servers_wait_port "$port" || { cat "$d/nginx.log" "$d/error.log" >&2; return 1; }
	servers_webdav_env "$d" "https://localhost:$port/" "$port"
}

stop_webdav_https() {
	servers_stop_group "$SERVERS_DIR/webdav/pgid"
}

start_webdav_https_netns() {
	local ns=$1 addr=$2 port=$3 dir=$4 token=$5 d=$SERVERS_DIR/webdav.$1 i
	servers_init
	mkdir -p "$d"
	servers_webdav_tls "$d" "$addr" || return 1
	servers_webdav_conf "$d" "$addr:$port" "$dir" "$token" || return 1
	servers_spawn "$d/nginx.log" ip netns exec "$ns" \
		nginx -c "$d/nginx.conf" -e "$d/error.log"
	tail -n 1 "$SERVERS_DIR/pgids" >"$d/pgid"
	for i in $(seq 1 50); do
		if ip netns exec "$ns" bash -c 'exec 3<>"/dev/tcp/$0/$1"' \
			"$addr" "$port" 2>/dev/null; then
			servers_webdav_env "$d" "https://$addr:$port/" "$port"
			return 0
		fi
		sleep 0.1
	done
	echo "servers.sh: nothing listens on $addr:$port in netns $ns" >&2
	cat "$d/nginx.log" "$d/error.log" >&2
	return 1
}

stop_webdav_https_netns() {
	servers_stop_group "$SERVERS_DIR/webdav.$1/pgid"
}
