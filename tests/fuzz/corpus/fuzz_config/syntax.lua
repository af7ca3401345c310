return {
  host = { id = "h1" 
