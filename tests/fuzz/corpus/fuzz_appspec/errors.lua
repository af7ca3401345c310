app "a" { kind = "container", image = "Web@sha256:abc", ports = { "0:80", "8080" },
  helth = {}, health = { http = "ftp://x", tcp = "x", interval = "2" },
  limits = { memory = 12, cpu = -1 }, env = { ["1X"] = 1 }, depends_on = { "a", "zz" } }
app "b" { kind = "service", files = "/abs", exec = { "../x" }, volumes = { "x" } }
app "c" { kind = "contianer" }
