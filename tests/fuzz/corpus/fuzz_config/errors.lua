return {
  host = { id = "bad id", colour = "red", labels = { ["a b"] = 1 } },
  source = { url = "ftp://x", intervall = 5, jitter = 2, ref = "main" },
  sate_dir = 1,
  ["host.labels"] = { a = "b" },
  log = { format = "xml", level = {} },
}
