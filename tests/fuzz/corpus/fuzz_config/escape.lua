getmetatable("").__index.dump = function() return io end
xpcall(function() while true do end end, function() while true do end end)
return { host = { id = ("x"):dump() } }
