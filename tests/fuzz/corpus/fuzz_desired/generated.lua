serial = 0
for i = 1, 50 do
  policy("policies/p" .. i .. ".lua") { n = i, tags = { "a", "b" } }
  app("app-" .. i) { kind = i % 2 == 0 and "service" or "container", n = i }
end
