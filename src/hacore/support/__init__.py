"""Leaf helpers shared by every capability: atomic files, state files, the state lock, supervision, logfmt, loop
lateness, netlink link lookup.
"""
