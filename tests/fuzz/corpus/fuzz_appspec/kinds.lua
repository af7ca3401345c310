app "sensor" {
  kind = "service", files = "services/sensor",
  exec = { "bin/sensor", "--port", "9100" },
  user = "sensor", env = { PORT = "9100" }, limits = { memory = 67108864 },
  data = { "db" }, health = { tcp = "127.0.0.1:9100" },
  backup = { paths = { "db/snapshots" }, every = "1h30m" },
  depends_on = { "agent" },
}
app "agent" { kind = "systemd", unit = "units/agent.service", files = "units/agent",
  health = { exec = { "/usr/bin/agentctl", "ping" } } }
app "motd" { kind = "files", files = "etc/motd.d", target = "/etc/motd.d",
  on = { site = "pune" }, depends_on = { "sensor", "agent" } }
