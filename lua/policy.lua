-- policy.lua - the policy runner, run by furrow before a policy file.
--
-- This is furrow's own, trusted code, embedded in the binary and run in
-- the same sandbox and under the same caps as the policy (see
-- core/sandbox.h, sandbox_eval_program, and core/policy.h).  It is
-- called with the policy's chunk name and furrow's input:
--
--   { ctx     = { now = <epoch s>, host = { id, labels }, commit = { id,
--                 time, signer }, serial, apps = { [app] = current },
--                 freeze_file = <bool> },
--     changes = { { app = "web", action = "create"|"update"|"remove",
--                   spec = {...}, current = {...} }, ... },
--     options = { ... as furrow.lua gave them ... },
--     rules   = { adjustable = { ["health.settle"] = { type = "number",
--                   ... }, ... }, reason_bytes = <max> } }
--
-- and returns two values:
--
--   env     the table the policy file runs in (its _ENV): the sandbox's
--           safe globals plus allow, deny, defer and adjust.
--   finish  called with what the policy file returned, which must be a
--           function; finish calls it as f(ctx, changes, options), then
--           returns the decisions:
--             { decisions = { [app] = { verdict = "allow"|"defer"|"deny",
--                 reason = <string or nil>, ["until"] = <epoch s or nil>,
--                 adjust = <table or nil> } } }
--
-- The helpers, callable from the policy file and from its function:
--
--   allow(change [, reason])
--   deny(change, reason)
--   defer(change, until, reason)   until: epoch seconds (an integer), or
--                                  nil for "until a later run decides
--                                  otherwise"
--   adjust(change, fields)         fields: e.g. { strategy = "stop-first",
--                                  health = { settle = 30 } }; only the
--                                  fields in rules.adjustable, checked
--                                  against their rule
--
-- change is one of the tables in changes (recognised by identity, so a
-- policy that rewrites change.app cannot decide for another app) or an
-- app name that has a change.  An app the policy says nothing about is
-- allowed.  When a policy decides twice for one app, deny wins over
-- defer, defer over allow; of two denies the first reason stays; of two
-- defers the later until (an open-ended one latest of all), so the change
-- waits for every reason.  Adjustments merge, a later value of a field
-- replacing an earlier one; they are dropped from a denied change.
--
-- Decisions live in locals of this chunk, never in env, so the policy can
-- only make them through the helpers.  As in desired.lua, every library
-- function used here is captured before the policy runs, and the
-- policy's values are only inspected with type/math.type and raw access.
-- The safe-globals table and the small helpers (where, at, fail, show,
-- copy) are duplicated from desired.lua on purpose: the sandbox loads one
-- prelude per program, and two short copies are simpler than a loader.

local chunkname, input = ...

local type, error, pcall, next, tostring, rawget =
	type, error, pcall, next, tostring, rawget
local s_find, s_sub, s_format, s_match, s_gsub, s_byte =
	string.find, string.sub, string.format, string.match, string.gsub,
	string.byte
local t_sort, t_concat = table.sort, table.concat
local m_type = math.type

-- "policy.lua:12" for the function `level` calls up from where()'s
-- caller (level 1 is that caller), without the debug library (see
-- desired.lua).
local function where(level)
	local _, msg = pcall(error, "", level + 2)
	return s_match(msg, "^(.*): $") or ""
end

local function at(line, msg)
	if line == "" then
		return chunkname .. ": " .. msg
	end
	return line .. ": " .. msg
end

-- fail(msg, level): level 1 is the function calling fail(), 2 its caller.
local function fail(msg, level)
	error(at(where(level + 1), msg), 0)
end

-- Quote a policy's string for a message: at most 80 bytes, one line.
local function show(s)
	local q = s_gsub(s_sub(s, 1, 80), "[^ -~]", function(c)
		return s_format("\\%03d", s_byte(c))
	end)
	return "'" .. q .. (#s > 80 and "'..." or "'")
end

-- A policy's value for a message, without running its metamethods.
local function describe(v)
	local t = type(v)
	if t == "string" then
		return show(v)
	elseif t == "number" or t == "boolean" then
		return tostring(v)
	end
	return t
end

local function copy(t)
	local c = {}
	for k, v in next, t do
		c[k] = v
	end
	return c
end

local ctx, changes, options = input.ctx, input.changes, input.options
local adjustable = input.rules.adjustable
local reason_bytes = input.rules.reason_bytes

-- Which app each change is for, read before the policy can touch them.
local app_of, has_change = {}, {}
for i = 1, #changes do
	local c = changes[i]
	app_of[c] = c.app
	has_change[c.app] = true
end

local adjustable_list
do
	local names = {}
	for k in next, adjustable do
		names[#names + 1] = k
	end
	t_sort(names)
	adjustable_list = t_concat(names, ", ")
end

local decided = {}  -- app -> { verdict =, reason =, ["until"] =, adjust = }
local strength = { allow = 1, defer = 2, deny = 3 }

-- The app a helper's first argument stands for.  Called by a helper, so
-- the policy's line is level 3.
local function target(change, what)
	if type(change) == "string" then
		if not has_change[change] then
			fail(what .. ": app " .. show(change) .. " has no proposed "
				.. "change", 3)
		end
		return change
	end
	local app = type(change) == "table" and app_of[change] or nil
	if not app then
		fail(what .. ": the first argument must be one of the changes "
			.. "passed to the policy, or an app name (got "
			.. type(change) .. ")", 3)
	end
	return app
end

local function check_reason(what, reason)
	if type(reason) ~= "string" or reason == "" then
		fail(what .. ": a reason (a non-empty string) is required, got "
			.. (type(reason) == "string" and "an empty string"
				or type(reason)), 3)
	end
	if #reason > reason_bytes then
		fail(what .. ": the reason is longer than " .. reason_bytes
			.. " bytes", 3)
	end
	if s_find(reason, "%z") then
		fail(what .. ": the reason contains a NUL byte", 3)
	end
	return reason
end

local function entry(app)
	local d = decided[app]
	if not d then
		d = {}
		decided[app] = d
	end
	return d
end

local function record(app, verdict, reason, when)
	local d = entry(app)
	local old = d.verdict
	if old == nil or strength[verdict] > strength[old] then
		d.verdict, d.reason, d["until"] = verdict, reason, when
	elseif verdict == "defer" and old == "defer" then
		local cur = d["until"]
		if cur ~= nil and (when == nil or when > cur) then
			d.reason, d["until"] = reason, when
		end
	end
end

local function allow(change, reason)
	local app = target(change, "allow")
	if reason ~= nil then
		check_reason("allow", reason)
	end
	record(app, "allow", reason, nil)
end

local function deny(change, reason)
	local app = target(change, "deny")
	record(app, "deny", check_reason("deny", reason), nil)
end

local function defer(change, when, reason)
	local app = target(change, "defer")
	if when ~= nil and (m_type(when) ~= "integer" or when < 0) then
		fail("defer: until must be epoch seconds as a non-negative "
			.. "integer, or nil (got " .. describe(when) .. ")", 2)
	end
	record(app, "defer", check_reason("defer", reason), when)
end

-- Is v allowed for the adjustable field whose rule is r?  nil, or why not.
local function bad_value(r, v)
	if r.type == "enum" then
		if type(v) == "string" then
			for i = 1, #r.values do
				if r.values[i] == v then
					return nil
				end
			end
		end
		return "must be one of " .. t_concat(r.values, ", ")
	end
	local want = r.integer and "an integer" or "a number"
	if type(v) ~= "number" or v ~= v or
		(r.integer and m_type(v) ~= "integer") or v > r.max or
		v < r.min or (r.above and v == r.min) then
		return s_format("must be %s %s %s and at most %s", want,
			r.above and "above" or "from", tostring(r.min),
			tostring(r.max))
	end
	return nil
end

-- Called by adjust(): the policy's line is level 3.
local function set_adjust(app, path, v)
	local r = adjustable[path]
	if r == nil then
		fail("adjust: field " .. show(path) .. " may not be adjusted by "
			.. "a policy (adjustable: " .. adjustable_list .. ")", 3)
	end
	local why = bad_value(r, v)
	if why then
		fail("adjust: " .. path .. " " .. why .. " (got " .. describe(v)
			.. ")", 3)
	end
	local d = entry(app)
	d.adjust = d.adjust or {}
	local group, leaf = s_match(path, "^([^.]+)%.(.+)$")
	if group then
		d.adjust[group] = d.adjust[group] or {}
		d.adjust[group][leaf] = v
	else
		d.adjust[path] = v
	end
end

-- The string keys of t, sorted, so that of several bad fields the same
-- one is reported on every run.
local function sorted_keys(t)
	local keys = {}
	for k in next, t do
		if type(k) ~= "string" then
			return nil
		end
		keys[#keys + 1] = k
	end
	t_sort(keys)
	return keys
end

local function adjust(change, fields)
	local app = target(change, "adjust")
	if type(fields) ~= "table" then
		fail("adjust: fields must be a table, e.g. "
			.. "{ health = { settle = 30 } }", 2)
	end
	local keys = sorted_keys(fields)
	if not keys then
		fail("adjust: field names must be strings", 2)
	end
	for i = 1, #keys do
		local k = keys[i]
		local v = rawget(fields, k)
		if type(v) == "table" then
			local inner = sorted_keys(v)
			if not inner then
				fail("adjust: field names must be strings", 2)
			end
			for j = 1, #inner do
				local leaf = inner[j]
				set_adjust(app, k .. "." .. leaf, rawget(v, leaf))
			end
		else
			set_adjust(app, k, v)
		end
	end
end

local env = {
	string = copy(string), table = copy(table), math = copy(math),
	utf8 = copy(utf8),
	pairs = pairs, ipairs = ipairs, type = type, tostring = tostring,
	tonumber = tonumber, select = select, error = error, assert = assert,
	pcall = pcall, xpcall = xpcall, next = next, rawget = rawget,
	rawset = rawset, rawequal = rawequal, rawlen = rawlen,
	setmetatable = setmetatable, getmetatable = getmetatable,
	_VERSION = _VERSION,
	allow = allow, deny = deny, defer = defer, adjust = adjust,
}

local function finish(f)
	if type(f) ~= "function" then
		error(at("", "a policy file must return a function "
			.. "(ctx, changes, options), got "
			.. (f == nil and "nothing" or type(f))), 0)
	end
	f(ctx, changes, options)
	local out = {}
	for app, d in next, decided do
		out[app] = {
			verdict = d.verdict or "allow",
			reason = d.reason,
			["until"] = d["until"],
			adjust = d.verdict ~= "deny" and d.adjust or nil,
		}
	end
	return { decisions = out }
end

return env, finish
