#!/usr/bin/env bash
# The command line: help, usage errors and their exit codes, version.
. "$(dirname "$0")/lib.sh"

test_expect_success 'furrow --help lists the commands and exit codes' '
	furrow --help >out &&
	test_grep "usage: furrow" out &&
	test_grep "^  check" out &&
	test_grep "^  version" out &&
	test_grep "2 usage" out
'

test_expect_success 'no command is a usage error (exit 2)' '
	test_expect_code 2 furrow 2>err &&
	test_grep "usage: furrow" err
'

test_expect_success 'an unknown command exits 2 and names it' '
	test_expect_code 2 furrow frobnicate 2>err &&
	test_grep "frobnicate.*is not a furrow command" err
'

test_expect_success 'an unknown global option exits 2' '
	test_expect_code 2 furrow --bogus version 2>err &&
	test_grep "unknown option .--bogus" err
'

test_expect_success 'an unknown command option exits 2' '
	test_expect_code 2 furrow version --bogus 2>err &&
	test_grep "version: unknown argument .--bogus" err &&
	test_expect_code 2 furrow check --bogus 2>err &&
	test_grep "check: unknown argument" err
'

test_expect_success 'bad --log-format and --log-level values exit 2' '
	test_expect_code 2 furrow --log-format=xml version 2>err &&
	test_grep "not logfmt or json" err &&
	test_expect_code 2 furrow --log-level loud version 2>err &&
	test_grep "not debug, info, warn or error" err
'

test_expect_success '-c without a value is a usage error' '
	test_expect_code 2 furrow -c
'

test_expect_success 'every command has --help, on stdout, exit 0' '
	for c in version check; do
		furrow $c --help >out &&
		test_grep "usage: furrow.* $c" out || exit 1
	done
'

test_expect_success 'version reports every linked library at run time' '
	furrow version >out &&
	test_grep "^furrow [0-9][0-9.]* (" out &&
	test_grep -E "^  libgit2 +1\.5\." out &&
	test_grep -E "^  libcurl +7\.88\." out &&
	test_grep -E "^  mbedtls +2\.28\." out &&
	test_grep -E "^  libsodium +1\.0\." out &&
	test_grep -E "^  lua +5\.4\." out &&
	test_grep -E "^  lmdb +0\.9\." out &&
	test_grep -E "^  zlib +1\.2\." out &&
	test_grep -E "^  zstd +1\.5\." out &&
	test_grep -E "^  cjson +1\.7\." out &&
	test_grep -E "^  tls +mbedTLS/2\.28" out
'

test_expect_success 'version --json is JSON with the same facts' '
	furrow version --json >out.json &&
	python3 -c "
import json,sys
d = json.load(open(\"out.json\"))
libs = d[\"libraries\"]
assert set(libs) == {\"libgit2\",\"libcurl\",\"mbedtls\",\"libsodium\",\"lua\",\"lmdb\",\"zlib\",\"zstd\",\"cjson\"}, libs
assert libs[\"libgit2\"].startswith(\"1.5.\"), libs
assert libs[\"zstd\"].startswith(\"1.5.\"), libs
assert d[\"furrow\"] and d[\"git_revision\"]
"
'

test_expect_success 'a write error on stdout fails the command' '
	test -w /dev/full &&
	test_expect_code 1 furrow version >/dev/full 2>err &&
	test_grep "cannot write to standard output" err &&
	test_expect_code 1 furrow --help >/dev/full 2>err
'

test_expect_success 'furrow --version is furrow version' '
	furrow --version >a && furrow version >b && test_cmp a b
'

test_done
