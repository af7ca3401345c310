serial = 3
app "web" {}
pcall(app, "web")
pcall(app, "bad name")
pcall(policy, "../x.lua")
pcall(policy, "/abs.lua")
pcall(policy, "std:Bad")
pcall(include, "x.lua")
pcall(function() serial = -1 end)
local p = policy "std:freeze"
p { until_ = "2030-01-01" }
pcall(p, {})
app "late"
