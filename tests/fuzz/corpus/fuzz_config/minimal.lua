return {
  host = { id = "h1" },
  source = { url = "https://example.com/repo.git" },
  trust = { commit_signers = "/" },
}
