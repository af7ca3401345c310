for i = 1, 50 do
  app("n" .. i) { kind = "container", image = "x:" .. i,
    depends_on = { "n" .. (i % 50 + 1) } }
end
app "solo" { kind = "container", image = "nginx", on = { role = "gateway", site = "pune" } }
