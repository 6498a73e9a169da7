"""The built-in stages of the course, one module per stage."""
