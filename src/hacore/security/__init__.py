"""Security: the cluster keys (derivation, rotation) and the replay-proof message counters."""
