local S = getmetatable("").__index
for k in pairs(S) do S[k] = function() return 1 end end
policy = nil
string = nil
rawset(_ENV, "serial", 5)
pcall(setmetatable, _ENV, nil)
local seen = {}
local function walk(t)
  if seen[t] then return end
  seen[t] = true
  for k, v in next, t do if type(v) == "table" then walk(v) end end
end
walk(_ENV)
app "a" { n = 1 }
