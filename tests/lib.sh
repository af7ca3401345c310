# lib.sh - a small shell test library producing TAP (after git's t/).
#
#   . "$(dirname "$0")/lib.sh"
#   test_expect_success 'what it checks' '
#       furrow version >out &&
#       grep libgit2 out
#   '
#   test_done
#
# Each body runs in a subshell with `set -e`, in the scratch directory
# $TEST_DIR (removed at exit unless FURROW_TEST_KEEP=1).  $FURROW is the
# binary under test (default: build/furrow of this checkout).

set -u
TEST_NAME=$(basename "$0" .sh)
SRC_DIR=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$SRC_DIR/$BUILD ;; esac
FURROW=${FURROW:-$BUILD/furrow}
case $FURROW in /*) ;; *) FURROW=$SRC_DIR/$FURROW ;; esac
export FURROW SRC_DIR BUILD

TEST_DIR=$(mktemp -d "${TMPDIR:-/tmp}/furrow-$TEST_NAME.XXXXXX")
export TEST_DIR
test_count=0
test_failed=0
test_cleanup_cmds=()

# Commands to run at exit (servers to stop), last registered first.
test_on_exit() { test_cleanup_cmds+=("$1"); }

test_run_cleanup() {
	local i
	for ((i = ${#test_cleanup_cmds[@]} - 1; i >= 0; i--)); do
		eval "${test_cleanup_cmds[$i]}" >/dev/null 2>&1 || true
	done
	test_cleanup_cmds=()
	if [ "${FURROW_TEST_KEEP:-0}" = 1 ]; then
		echo "# kept $TEST_DIR"
	else
		rm -rf "$TEST_DIR"
	fi
}
trap test_run_cleanup EXIT
trap 'exit 130' INT TERM

furrow() { "$FURROW" "$@"; }
export -f furrow

test_expect_success() {
	local name=$1 body=$2 rc
	test_count=$((test_count + 1))
	(
		cd "$TEST_DIR" || exit 99
		set -e
		eval "$body"
	) >"$TEST_DIR/.out" 2>&1
	rc=$?
	if [ $rc -eq 0 ]; then
		echo "ok $test_count - $name"
	else
		test_failed=$((test_failed + 1))
		echo "not ok $test_count - $name"
		sed -e 's/^/#   /' "$TEST_DIR/.out" | tail -n 40
	fi
}

test_skip() {
	test_count=$((test_count + 1))
	echo "ok $test_count - $1 # SKIP $2"
}

# Succeeds if the command fails with an ordinary error (not a crash).
test_must_fail() {
	local rc=0
	"$@" || rc=$?
	if [ $rc -eq 0 ]; then
		echo "test_must_fail: command succeeded: $*" >&2
		return 1
	elif [ $rc -gt 128 ]; then
		echo "test_must_fail: command died by signal $((rc - 128)): $*" >&2
		return 1
	fi
	return 0
}

# test_expect_code N command...: the command must exit with exactly N.
test_expect_code() {
	local want=$1 rc=0
	shift
	"$@" || rc=$?
	if [ "$rc" != "$want" ]; then
		echo "test_expect_code: want exit $want, got $rc: $*" >&2
		return 1
	fi
}

test_cmp() { diff -u "$1" "$2"; }

# test_grep [grep options] PATTERN FILE: like grep, but shows the file on failure.
test_grep() {
	if ! grep "$@"; then
		echo "test_grep: no match for: $*" >&2
		echo "--- ${*: -1}:" >&2
		cat "${@: -1}" >&2 || true
		return 1
	fi
}

# A free TCP port on loopback.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

test_done() {
	echo "1..$test_count"
	if [ $test_failed -gt 0 ]; then
		echo "# $TEST_NAME: $test_failed of $test_count failed"
		exit 1
	fi
	exit 0
}
