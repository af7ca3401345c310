local function env(n) return "h" .. n end
local labels = {}
for i = 1, 8 do labels["k" .. i] = "v" .. (i * 3) end
return {
  host = { id = env(7), labels = labels },
  source = { url = "http://10.0.0.1/x", insecure = true, jitter = 1 / 3 },
  trust = { commit_signers = "/" },
  state_dir = "/tmp/odd\1\31\127\n'\"dir",
}
