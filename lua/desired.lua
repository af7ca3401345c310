-- desired.lua - the desired-state DSL, run by furrow before furrow.lua.
--
-- This is furrow's own, trusted code, embedded in the binary and run in
-- the same sandbox and under the same caps as the user's file (see
-- core/sandbox.h, sandbox_eval_program).  It is called with the user's
-- chunk name, the files furrow.lua may include (a table { [path] = text }
-- of the tree's .lua files, or nil for none) and the sandbox's text
-- loader, and returns two values:
--
--   env     the table furrow.lua runs in (its _ENV): the sandbox's safe
--           globals plus the DSL (policy, app, include).  Globals the user
--           sets land here, never in this file's globals.
--   finish  a function returning what was declared, in declaration order:
--             { serial = <integer or nil>,
--               policies = { { name = "...", options = {...} }, ... },
--               apps = { { name = "...", file = "...",
--                        line = <integer or nil>, spec = {...} }, ... } }
--           where file and line are where the app was declared
--           (furrow.lua or a file it included; line nil when Lua knows
--           none), for core/appspec.c's messages.
--
-- include "apps/web.lua" runs that file of the tree in the same env, so
-- its declarations join furrow.lua's.  Each file is included at most
-- once; cycles and nesting deeper than MAX_INCLUDE_DEPTH are errors.
--
-- Everything collected lives in locals of this chunk (upvalues of the DSL
-- functions), never in env, so furrow.lua cannot reach another
-- declaration's record.  Every library function used here is captured
-- now, before the user's code runs, because the user can change the
-- shared library tables (through getmetatable("").__index, for one).
-- User values are only inspected with type/math.type and raw access, so
-- none of the user's metamethods runs inside this file.
--
-- App specs are only checked to be tables here; their schema comes later.

local chunkname, files, load_text = ...
local MAX_INCLUDE_DEPTH = 8

local type, error, pcall, rawget, rawset, next, select, setmetatable,
	tonumber =
	type, error, pcall, rawget, rawset, next, select, setmetatable,
	tonumber
local s_find, s_sub, s_format, s_match, s_gmatch, s_gsub, s_byte =
	string.find, string.sub, string.format, string.match, string.gmatch,
	string.gsub, string.byte
local m_type = math.type

-- "furrow.lua:12" for the function `level` calls up from where()'s
-- caller (level 1 is that caller), without the debug library: error()
-- puts exactly that position in front of its message, and pcall hands
-- it back.  "" if that function has no line (a C function, a tail call).
local function where(level)
	local _, msg = pcall(error, "", level + 2)
	return s_match(msg, "^(.*): $") or ""
end

-- "furrow.lua:12: " in front of msg; the bare chunk name when Lua knows
-- no line (the DSL was called from a tail call).
local function at(line, msg)
	if line == "" then
		return chunkname .. ": " .. msg
	end
	return line .. ": " .. msg
end

-- fail(msg, level) for mistakes in furrow.lua: level 1 is the function
-- calling fail(), 2 its caller (the user's line, for a DSL function).
local function fail(msg, level)
	error(at(where(level + 1), msg), 0)
end

-- Quote a user string for a message: at most 80 bytes, on one line, other
-- bytes than printable ASCII as \ddd.
local function show(s)
	local q = s_gsub(s_sub(s, 1, 80), "[^ -~]", function(c)
		return s_format("\\%03d", s_byte(c))
	end)
	return "'" .. q .. (#s > 80 and "'..." or "'")
end

-- Copy of a library table, so that the user's changes to their string or
-- table stay in their env.
local function copy(t)
	local c = {}
	for k, v in next, t do
		c[k] = v
	end
	return c
end

local policies, apps, app_by_name = {}, {}, {}
local serial_value = nil

local function check_serial(v, level)
	if v ~= nil and (m_type(v) ~= "integer" or v < 0) then
		local got = type(v) == "number" and s_format("%s", v) or type(v)
		if type(v) == "string" then
			got = "the string " .. show(v)
		end
		fail("serial must be a non-negative integer (got " .. got .. ")",
			level + 1)
	end
end

-- A path of furrow.lua's repo: relative, '/'-separated, no empty, "."
-- or ".." component, no backslash or control character.
local function bad_repo_path(name)
	if s_sub(name, 1, 1) == "/" then
		return "must be a relative path in the repository"
	end
	if s_find(name, "[%c\\]") then
		return "must not contain a backslash or control character"
	end
	if #name > 1024 then
		return "is longer than 1024 bytes"
	end
	for part in s_gmatch(name .. "/", "([^/]*)/") do
		if part == "" or part == "." or part == ".." then
			return "must not contain empty, '.' or '..' components"
		end
	end
	if not s_find(name, "%.lua$") or s_match(name, "[^/]*$") == ".lua" then
		return "must name a .lua file"
	end
	return nil
end

local function policy(name, ...)
	if select("#", ...) > 0 then
		fail("policy takes one name: policy \"name\" { options }", 2)
	end
	if type(name) ~= "string" then
		fail("policy name must be a string, got " .. type(name), 2)
	end
	if s_sub(name, 1, 4) == "std:" then
		local std = s_sub(name, 5)
		if #std > 64 or not s_find(std, "^[a-z0-9][a-z0-9_-]*$") then
			fail("policy " .. show(name) .. ": a standard policy name is "
				.. "std: followed by [a-z0-9][a-z0-9_-]*", 2)
		end
	else
		local why = bad_repo_path(name)
		if why then
			fail("policy " .. show(name) .. ": " .. why
				.. " (or std:NAME for a standard policy)", 2)
		end
	end
	local record = { name = name, options = {} }
	local given = false
	policies[#policies + 1] = record
	return function(options, ...)
		if given then
			fail("policy " .. show(name) .. " already has options", 2)
		end
		if type(options) ~= "table" or select("#", ...) > 0 then
			fail("policy " .. show(name) .. ": options must be one table: "
				.. "policy \"name\" { ... }", 2)
		end
		given = true
		record.options = options
	end
end

local function app(name, ...)
	if select("#", ...) > 0 then
		fail("app takes one name: app \"name\" { ... }", 2)
	end
	if type(name) ~= "string" then
		fail("app name must be a string, got " .. type(name), 2)
	end
	-- Lower case only: the name becomes a directory, a process and
	-- container name and a unit name on the host.
	if #name > 63 or not s_find(name, "^[a-z0-9][a-z0-9._-]*$") then
		fail("app name " .. show(name) .. " is invalid: 1 to 63 of "
			.. "a-z 0-9 . _ -, starting with a letter or digit", 2)
	end
	if app_by_name[name] then
		local first = app_by_name[name].line
		fail("app " .. show(name) .. " declared twice"
			.. (first ~= "" and " (first at " .. first .. ")" or ""), 2)
	end
	local record = { name = name, line = where(2), spec = nil }
	app_by_name[name] = record
	apps[#apps + 1] = record
	return function(spec, ...)
		if record.spec ~= nil then
			fail("app " .. show(name) .. " already has a spec", 2)
		end
		if type(spec) ~= "table" or select("#", ...) > 0 then
			fail("app " .. show(name) .. ": spec must be one table: "
				.. "app \"name\" { kind = ..., ... }", 2)
		end
		record.spec = spec
	end
end

local env

-- Files included so far (path -> where) and the chain being run, from
-- furrow.lua down; a path already on the chain is a cycle.
local included, chain = {}, { chunkname }

local function include(path, ...)
	if select("#", ...) > 0 then
		fail("include takes one path: include \"dir/file.lua\"", 2)
	end
	if type(path) ~= "string" then
		fail("include path must be a string, got " .. type(path), 2)
	end
	local why = bad_repo_path(path)
	if why then
		fail("include " .. show(path) .. ": " .. why, 2)
	end
	for i = 1, #chain do
		if chain[i] == path then
			local cycle = ""
			for j = i, #chain do
				cycle = cycle .. chain[j] .. " -> "
			end
			fail("include cycle: " .. cycle .. path, 2)
		end
	end
	if included[path] then
		fail("include: " .. path .. " is already included (at "
			.. included[path] .. ")", 2)
	end
	if #chain > MAX_INCLUDE_DEPTH then
		fail("include " .. path .. ": includes nested deeper than "
			.. MAX_INCLUDE_DEPTH, 2)
	end
	local text = type(files) == "table" and rawget(files, path) or nil
	if type(text) ~= "string" then
		fail("include: no file " .. path .. " in the tree", 2)
	end
	local from = where(2)
	included[path] = from ~= "" and from or chunkname
	local fn, msg = load_text(text, path, env)
	if not fn then
		error(msg .. " (included at " .. included[path] .. ")", 0)
	end
	chain[#chain + 1] = path
	-- pcall so that the chain is right again even when the user's own
	-- pcall catches this error; the message already names its line.
	local ok, err = pcall(fn)
	chain[#chain] = nil
	if not ok then
		error(err, 0)
	end
end

env = {
	string = copy(string), table = copy(table), math = copy(math),
	utf8 = copy(utf8),
	pairs = pairs, ipairs = ipairs, type = type, tostring = tostring,
	tonumber = tonumber, select = select, error = error, assert = assert,
	pcall = pcall, xpcall = xpcall, next = next, rawget = rawget,
	rawset = rawset, rawequal = rawequal, rawlen = rawlen,
	setmetatable = setmetatable, getmetatable = getmetatable,
	_VERSION = _VERSION,
	policy = policy, app = app, include = include,
}

-- `serial = N` is caught on its way into env, so that a bad value is
-- reported at its line; the value itself stays here, out of reach.
setmetatable(env, {
	__metatable = false,
	__newindex = function(t, k, v)
		if k == "serial" then
			check_serial(v, 2)
			serial_value = v
		else
			rawset(t, k, v)
		end
	end,
	__index = function(_, k)
		if k == "serial" then
			return serial_value
		end
		return nil
	end,
})

local function finish()
	-- rawset(_ENV, "serial", v) gets past __newindex: check it here.
	local serial = rawget(env, "serial")
	if serial ~= nil then
		if m_type(serial) ~= "integer" or serial < 0 then
			error(at("", "serial must be a non-negative integer"), 0)
		end
	else
		serial = serial_value
	end
	local out_policies, out_apps = {}, {}
	for i = 1, #policies do
		local p = policies[i]
		out_policies[i] = { name = p.name, options = p.options }
	end
	for i = 1, #apps do
		local a = apps[i]
		if a.spec == nil then
			error(at(a.line, "app " .. show(a.name) .. " has no spec: "
				.. "app \"name\" { kind = ..., ... }"), 0)
		end
		-- where() gave "apps/web.lua:12"; file and line travel back
		-- apart.
		local file, line = s_match(a.line, "^(.*):(%d+)$")
		out_apps[i] = { name = a.name, spec = a.spec,
			file = file or chunkname,
			line = line and tonumber(line) or nil }
	end
	return { serial = serial, policies = out_policies, apps = out_apps }
end

return env, finish
