-- std:freeze - pause every change while the host or the fleet is frozen.
--
-- Purpose: an operator stops all updates, for one host by setting its
-- label (agent config: host.labels.freeze = "true"), or for every host
-- that reads the repository by committing a file named FREEZE at its root
-- together with FREEZE.sig, a signature over it by a policy signer
-- (`ssh-keygen -Y sign -n furrow-policy`).  furrow sets ctx.freeze_file
-- only when that signature verifies against trust.policy_signers; an
-- unsigned FREEZE is ignored and logged (plan.freeze_ignored).  Thawing is
-- removing the label or the file.
--
-- Options:
--   label   the host label to read (default "freeze"); its value "true"
--           freezes, any other value or none does not.
--
-- Decisions:
--   defer  every change, open-ended (no until: the next run decides
--          again), with the reason naming the label and/or the file;
--   none   when not frozen: allowed.
--
-- Example:  policy "std:freeze"

local function check_options(options, known)
	local bad = {}
	for k in pairs(options) do
		if not known[k] then
			bad[#bad + 1] = tostring(k)
		end
	end
	table.sort(bad)
	if bad[1] then
		error("unknown option " .. bad[1] .. " (known: label)", 2)
	end
end

return function(ctx, changes, options)
	check_options(options, { label = true })
	local label = options.label
	if label == nil then
		label = "freeze"
	elseif type(label) ~= "string" or label == "" then
		error("options.label must be a non-empty string")
	end
	local host = ctx.host
	local labels = type(host) == "table" and host.labels or nil
	local by_label = type(labels) == "table" and labels[label] == "true"
	local by_file = ctx.freeze_file == true
	if not by_label and not by_file then
		return
	end
	local why
	if by_label and by_file then
		why = "frozen by host label " .. label .. "=true and a FREEZE file"
	elseif by_label then
		why = "frozen by host label " .. label .. "=true"
	else
		why = "frozen by a FREEZE file in the repository"
	end
	for _, c in ipairs(changes) do
		defer(c, nil, why)
	end
end
