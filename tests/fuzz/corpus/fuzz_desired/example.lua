serial = 7
policy "std:require-digest"
policy "policies/site-window.lua" { windows = { "Sat 01:00-05:00" } }

app "web" {
  kind = "container",
  image = "registry.local/web@sha256:0123456789abcdef",
  ports = { "127.0.0.1:8080:80" },
  health = { http = "http://127.0.0.1:8080/healthz", interval = 2, retries = 3, settle = 5 },
  on = { role = "gateway" },
  backup = { paths = { "data" }, every = "6h", keep = 14 },
  secrets = { db_password = "secrets/web-db.age" },
}

app "sensor" {
  kind = "service",
  files = "services/sensor",
  exec = { "bin/sensor", "--port", "9100" },
  health = { tcp = "127.0.0.1:9100" },
}
