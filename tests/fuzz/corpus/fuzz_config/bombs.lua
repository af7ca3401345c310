local ok = pcall(string.rep, "x", 2^30)
local t = {} t.t = t
setmetatable({}, { __gc = function() while true do end end })
return t
