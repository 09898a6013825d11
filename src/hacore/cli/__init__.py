"""The hacore command line: the click tree, its plumbing and the pure rendering."""
