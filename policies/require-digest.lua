-- std:require-digest - container images must be pinned by digest.
--
-- Purpose: a tag such as registry.local/web:1.4 can be moved on the
-- registry to other bytes without a commit; a digest cannot.  With this
-- policy a host only runs container images named by content.
--
-- Options: none.
--
-- Decisions:
--   deny   create or update of a container app (spec.kind "container")
--          whose spec.image does not end in "@sha256:" and 64 lowercase
--          hex digits, or that has no image;
--   none   every other change (removals, other kinds): allowed.
--
-- Example:  policy "std:require-digest"

local DIGEST = "@sha256:" .. string.rep("[0-9a-f]", 64) .. "$"

local function check_options(options, known)
	local bad = {}
	for k in pairs(options) do
		if not known[k] then
			bad[#bad + 1] = tostring(k)
		end
	end
	table.sort(bad)
	if bad[1] then
		error("unknown option " .. bad[1]
			.. " (this policy takes none)", 2)
	end
end

return function(ctx, changes, options)
	check_options(options, {})
	for _, c in ipairs(changes) do
		local spec = c.spec
		if c.action ~= "remove" and type(spec) == "table"
			and spec.kind == "container" then
			local image = spec.image
			if type(image) ~= "string" or image == "" then
				deny(c, "container app has no image")
			elseif not string.find(image, DIGEST) then
				deny(c, "image " .. string.format("%q", image:sub(1, 200))
					.. " is not pinned by digest (NAME@sha256:<64 hex>)")
			end
		end
	end
end
