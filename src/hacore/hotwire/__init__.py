"""The hotwire (UDP/3780): one socket to the peer, one sealing envelope, one replay check; peer status and
conntrack sync register on it.
"""
