-- std:canary-waves - roll a commit out in waves, without a controller.
--
-- Purpose: a bad commit should reach a few hosts first, not the whole
-- fleet at once.  Each host picks its wave from its id alone, so no
-- coordinator is needed and the choice is stable: wave = FNV-1a 32-bit
-- hash of the bytes of ctx.host.id, modulo the number of waves.  Wave N
-- applies a commit only from ctx.commit.time + N * delay on; wave 0 at
-- once.  A host can therefore never run a commit earlier than its wave,
-- and stopping a bad rollout is pushing a fix (or a FREEZE) before the
-- next wave's time.
--
-- Options:
--   waves   number of waves, an integer 1..1000 (default 4);
--   delay   seconds between waves, an integer 0..2592000 (30 days;
--           default 3600).
--
-- Needs ctx.host.id (a non-empty string) and ctx.commit.time (epoch
-- seconds, the commit's committer time).
--
-- Decisions:
--   defer  every change, while ctx.now < commit time + wave * delay,
--          until exactly that time;
--   allow  every change, from that time on.
--
-- Example:  policy "std:canary-waves" { waves = 4, delay = 3600 }

local function check_options(options, known)
	local bad = {}
	for k in pairs(options) do
		if not known[k] then
			bad[#bad + 1] = tostring(k)
		end
	end
	table.sort(bad)
	if bad[1] then
		error("unknown option " .. bad[1] .. " (known: waves, delay)", 2)
	end
end

-- FNV-1a, 32 bits: small, well known, and easy to recompute by hand
-- (e.g. in Python) to find out which wave a host is in.
local function fnv1a32(s)
	local h = 2166136261
	for i = 1, #s do
		h = ((h ~ string.byte(s, i)) * 16777619) & 0xffffffff
	end
	return h
end

local function option_int(options, name, default, min, max)
	local v = options[name]
	if v == nil then
		return default
	end
	if math.type(v) ~= "integer" or v < min or v > max then
		error("options." .. name .. " must be an integer from " .. min
			.. " to " .. max, 2)
	end
	return v
end

return function(ctx, changes, options)
	check_options(options, { waves = true, delay = true })
	local waves = option_int(options, "waves", 4, 1, 1000)
	local delay = option_int(options, "delay", 3600, 0, 30 * 86400)
	local host, commit = ctx.host, ctx.commit
	local id = type(host) == "table" and host.id or nil
	local time = type(commit) == "table" and commit.time or nil
	if type(id) ~= "string" or id == "" then
		error("ctx.host.id is missing: canary waves need the host's id")
	end
	if math.type(time) ~= "integer" then
		error("ctx.commit.time is missing: canary waves need the "
			.. "commit's time")
	end
	local wave = fnv1a32(id) % waves
	local from = time + wave * delay
	local why = string.format("canary wave %d of %d: applies from commit "
		.. "time + %d s", wave, waves, wave * delay)
	for _, c in ipairs(changes) do
		if ctx.now < from then
			defer(c, from, why)
		else
			allow(c, why)
		end
	end
end
