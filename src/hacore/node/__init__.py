"""The node: daemon lifecycle, the one composition root, command handlers, cluster info and role history."""
