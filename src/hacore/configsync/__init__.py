"""Configuration sync between the two nodes, over SSH on the hotwire."""
