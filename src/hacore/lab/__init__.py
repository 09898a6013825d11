"""A real two-node cluster in network namespaces: topology (pure) and netns (I/O)."""
