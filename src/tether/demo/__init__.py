"""The demo site: the same pages through each framework adapter (DESIGN §8)."""
