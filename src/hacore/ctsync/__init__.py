"""Conntrack replication from the master to the spare over the hotwire."""
