-- std:deny-privileged - no privileged containers, no host networking.
--
-- Purpose: a privileged container, or one on the host's network
-- namespace, is as good as root on the host.  This policy refuses both
-- unless the app is named in options.allow, so that every exception is
-- written down, signed and reviewed.
--
-- Options:
--   allow   a list of app names that may be privileged or use host
--           networking (default: none).
--
-- Decisions:
--   deny   create or update of a container app (spec.kind "container")
--          with spec.privileged == true or spec.network == "host", unless
--          the app is in options.allow;
--   none   every other change (removals, other kinds): allowed.
--
-- Example:  policy "std:deny-privileged" { allow = { "vpn" } }

local function check_options(options, known)
	local bad = {}
	for k in pairs(options) do
		if not known[k] then
			bad[#bad + 1] = tostring(k)
		end
	end
	table.sort(bad)
	if bad[1] then
		error("unknown option " .. bad[1] .. " (known: allow)", 2)
	end
end

return function(ctx, changes, options)
	check_options(options, { allow = true })
	local allowed = {}
	if options.allow ~= nil then
		if type(options.allow) ~= "table" then
			error("options.allow must be a list of app names")
		end
		for i, name in ipairs(options.allow) do
			if type(name) ~= "string" then
				error("options.allow[" .. i .. "] must be an app name")
			end
			allowed[name] = true
		end
	end
	for _, c in ipairs(changes) do
		local spec = c.spec
		if c.action ~= "remove" and type(spec) == "table"
			and spec.kind == "container" and not allowed[c.app] then
			local priv = spec.privileged == true
			local hostnet = spec.network == "host"
			local what
			if priv and hostnet then
				what = "privileged container with host networking"
			elseif priv then
				what = "privileged container"
			elseif hostnet then
				what = "container with host networking"
			end
			if what then
				deny(c, what .. " (name the app in the options.allow "
					.. "of std:deny-privileged to permit it)")
			end
		end
	end
end
