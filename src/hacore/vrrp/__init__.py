"""VRRP: the advert codecs (pure reference and compiled twin) and, later, the election machine."""
