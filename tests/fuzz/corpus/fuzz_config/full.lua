-- furrow agent config, every key
return {
  host = {
    id = "web-01.example",
    labels = { role = "web", ["zone/a"] = "eu-1", ["end"] = "x" },
  },
  source = {
    url = "https://git.example.com/fleet.git",
    ref = "refs/heads/prod",
    interval = 120, jitter = 0.5, timeout = 15.5, max_age = 0,
    insecure = false,
  },
  trust = { commit_signers = "/etc/furrow/signers" },
  state_dir = "state",
  containers = { socket = "/run/podman/podman.sock" },
  report = { url = "https://collector.example/report", interval = 600 },
  metrics = { textfile = "/var/lib/node_exporter/furrow.prom" },
  backup = { offsite = { url = "https://backup.example/" } },
  log = { format = "json", level = "debug" },
}
