-- An agent config for one edge host.  Relative paths are resolved
-- against the directory of this file.  `furrow check` prints it
-- normalised, with every default filled in.
return {
  host = {
    id = "edge-042",
    labels = { site = "pune", role = "gateway" },
  },
  source = {
    url = "https://git.example.net/fleet/desired.git",
    ref = "refs/heads/main",
    interval = 60,   -- seconds between passes
    jitter = 0.2,    -- +-20% of the interval, so a fleet does not pull at once
  },
  trust = {
    commit_signers = "allowed_signers",  -- OpenSSH allowed_signers, namespace "git"
  },
  state_dir = "state",
  log = { format = "logfmt", level = "info" },
}
