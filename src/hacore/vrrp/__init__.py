"""The election, from packet to decision to advert: codec, machine, timing, advert port, sender, receive filter,
ping checks.
"""
