"""The namespace lab, load generators, the peers' drivers and the macro benches: test and bench
tooling, its own distribution (pyproject.toml here), not part of the product."""
