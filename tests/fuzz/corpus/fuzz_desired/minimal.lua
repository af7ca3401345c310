app "one" { kind = "service" }
