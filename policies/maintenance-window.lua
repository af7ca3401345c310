-- std:maintenance-window - apply changes only inside weekly windows.
--
-- Purpose: updates restart apps; a site may allow that only at quiet
-- times.  Outside every window each change waits for the next window to
-- open.  The clock is ctx.now (injected by furrow), never the host's.
--
-- Options:
--   windows     a non-empty list of "Ddd HH:MM-HH:MM", Ddd one of Mon Tue
--               Wed Thu Fri Sat Sun, times on a 24-hour clock in the
--               local time below.  A window runs from its start up to,
--               not including, its end.  An end at or before the start
--               means the next day ("Sun 22:00-02:00" runs into Monday,
--               wrapping the week); "24:00" is the end of the day; a
--               window cannot be empty (start = end).
--   utc_offset  "+HH:MM" or "-HH:MM" (up to 14:59), the local time of the
--               windows relative to UTC (default "+00:00").  A fixed
--               offset: daylight-saving changes are not followed.
--
-- Decisions:
--   allow  every change, when ctx.now is inside a window (the reason
--          names the first such window in the list);
--   defer  every change, when outside all windows, until the start of the
--          nearest next window (epoch seconds).
--
-- Example:
--   policy "std:maintenance-window" {
--     windows = { "Sat 01:00-05:00", "Sun 22:00-02:00" },
--     utc_offset = "+05:30",
--   }

local DAY, WEEK = 86400, 7 * 86400
local DAYS = { Mon = 0, Tue = 1, Wed = 2, Thu = 3, Fri = 4, Sat = 5, Sun = 6 }

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
			.. " (known: windows, utc_offset)", 2)
	end
end

-- Seconds east of UTC.
local function parse_offset(s)
	if s == nil then
		return 0, "+00:00"
	end
	local sign, h, m
	if type(s) == "string" then
		sign, h, m = string.match(s, "^([+-])(%d%d):(%d%d)$")
	end
	if not sign or tonumber(h) > 14 or tonumber(m) > 59 then
		error("options.utc_offset must be \"+HH:MM\" or \"-HH:MM\", "
			.. "e.g. \"+05:30\"", 2)
	end
	local off = tonumber(h) * 3600 + tonumber(m) * 60
	return sign == "-" and -off or off, s
end

-- { start = seconds after Monday 00:00, len = seconds, text = s }.
local function parse_window(s, i)
	local bad = "options.windows[" .. i .. "] must be \"Ddd HH:MM-HH:MM\" "
		.. "(e.g. \"Sat 01:00-05:00\")"
	if type(s) ~= "string" then
		error(bad, 2)
	end
	local d, sh, sm, eh, em = string.match(s,
		"^(%a%a%a) (%d%d):(%d%d)%-(%d%d):(%d%d)$")
	if not d or not DAYS[d] then
		error(bad, 2)
	end
	sh, sm, eh, em = tonumber(sh), tonumber(sm), tonumber(eh), tonumber(em)
	if sh > 23 or sm > 59 or em > 59 or eh > 24 or (eh == 24 and em ~= 0) then
		error(bad .. ": no such time", 2)
	end
	local from, to = sh * 60 + sm, eh * 60 + em
	if from == to then
		error("options.windows[" .. i .. "] " .. string.format("%q", s)
			.. " is empty (start = end)", 2)
	end
	local len = to > from and to - from or to + 1440 - from
	return { start = DAYS[d] * DAY + from * 60, len = len * 60, text = s }
end

return function(ctx, changes, options)
	check_options(options, { windows = true, utc_offset = true })
	local list = options.windows
	if type(list) ~= "table" or #list == 0 then
		error("options.windows must be a non-empty list such as "
			.. "{ \"Sat 01:00-05:00\" }")
	end
	local windows = {}
	for i = 1, #list do
		windows[i] = parse_window(list[i], i)
	end
	local offset, offset_text = parse_offset(options.utc_offset)
	local now = ctx.now

	-- Local seconds since Monday 00:00; 1970-01-01 was a Thursday, and
	-- Lua's % on integers rounds toward minus infinity.
	local pos = (now + offset + 3 * DAY) % WEEK
	local next_wait, next_window
	for _, w in ipairs(windows) do
		if (pos - w.start) % WEEK < w.len then
			for _, c in ipairs(changes) do
				allow(c, "inside maintenance window " .. w.text
					.. " (UTC" .. offset_text .. ")")
			end
			return
		end
		local wait = (w.start - pos) % WEEK
		if not next_wait or wait < next_wait then
			next_wait, next_window = wait, w
		end
	end
	for _, c in ipairs(changes) do
		defer(c, now + next_wait, "outside maintenance windows; next: "
			.. next_window.text .. " (UTC" .. offset_text .. ")")
	end
end
