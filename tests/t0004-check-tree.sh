#!/usr/bin/env bash
# `furrow check --tree DIR`: an operator's offline check of a desired-state
# working tree, before committing it.
. "$(dirname "$0")/lib.sh"

test_expect_success 'a valid tree: serial, policies and apps in dependency order' '
	mkdir -p t/policies &&
	echo "return function(ctx, changes) end" >t/policies/site.lua &&
	echo "signature" >t/policies/site.lua.sig &&
	cat >t/furrow.lua <<-\EOF &&
	serial = 7
	policy "std:require-digest"
	policy "policies/site.lua" { windows = { "Sat 01:00-05:00" } }
	app "web" {
	  kind = "container",
	  image = "registry.local/web@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	  ports = { "127.0.0.1:8080:80" },
	  depends_on = { "db" },
	  health = { http = "http://127.0.0.1:8080/healthz", interval = 2, retries = 3, settle = 5 },
	}
	app "db" { kind = "service", files = "services/db", exec = { "bin/db" } }
	EOF
	furrow check --tree t >out &&
	cat out &&
	test_grep "^serial   7$" out &&
	test_grep "^policy   policies/site.lua$" out &&
	grep "^app" out | grep -n . >apps &&
	test_grep "1:app      db (service)" apps &&
	test_grep "2:app      web (container)" apps
'

test_expect_success 'a bad app field is named with file, line and path (exit 1)' '
	mkdir -p b &&
	cat >b/furrow.lua <<-\EOF &&
	serial = 1
	app "web" { kind = "service", files = "s", exec = { "x" },
	  health = { tcp = "127.0.0.1:80", interval = "2" } }
	EOF
	test_expect_code 1 furrow check --tree b 2>err &&
	test_grep "furrow.lua:2: app web: health.interval" err
'

test_expect_success 'an unknown app field gets a suggestion' '
	mkdir -p u &&
	printf "app \"web\" { kind = \"service\", files = \"s\", exec = { \"x\" }, stratgy = \"stop-first\" }\n" >u/furrow.lua &&
	test_expect_code 1 furrow check --tree u 2>err &&
	test_grep "stratgy.*did you mean strategy" err
'

test_expect_success 'a policy file without its .sig is refused' '
	mkdir -p p/policies &&
	echo "return function() end" >p/policies/x.lua &&
	printf "policy \"policies/x.lua\"\n" >p/furrow.lua &&
	test_expect_code 1 furrow check --tree p 2>err &&
	test_grep "policy policies/x.lua.*x.lua.sig" err
'

test_expect_success 'a dependency cycle is reported' '
	mkdir -p c &&
	cat >c/furrow.lua <<-\EOF &&
	app "a" { kind = "service", files = "s", exec = { "x" }, depends_on = { "b" } }
	app "b" { kind = "service", files = "s", exec = { "x" }, depends_on = { "a" } }
	EOF
	test_expect_code 1 furrow check --tree c 2>err &&
	test_grep "a -> b -> a" err
'

test_expect_success 'furrow.lua includes apps/web.lua' '
	mkdir -p i/apps i/.git i/.hidden &&
	printf "include \"apps/web.lua\"\n" >i/furrow.lua &&
	printf "\napp \"web\" { kind = \"service\", files = \"s\", exec = { \"x\" } }\n" >i/apps/web.lua &&
	echo "error(1)" >i/.hidden/x.lua &&
	furrow check --tree i >out &&
	test_grep "app      web (service)" out &&
	printf "\napp \"web\" { kind = \"service\", files = \"s\", exec = { \"x\" }, stratgy = 1 }\n" >i/apps/web.lua &&
	test_expect_code 1 furrow check --tree i 2>err &&
	test_grep "apps/web.lua:2: app web" err &&
	printf "include \".hidden/x.lua\"\n" >i/furrow.lua &&
	test_expect_code 1 furrow check --tree i 2>err &&
	test_grep "no file .hidden/x.lua in the tree" err
'

test_expect_success 'no furrow.lua is a clear error' '
	mkdir -p e &&
	test_expect_code 1 furrow check --tree e 2>err &&
	test_grep "furrow.lua" err
'

test_done
