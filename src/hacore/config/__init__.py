"""Configuration: parse -> model -> validate (all errors, with paths) -> store atomically."""
