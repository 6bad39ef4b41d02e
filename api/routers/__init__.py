"""REST resources, one router each."""
