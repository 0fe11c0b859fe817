"""Data: source folders, group-disjoint splits, ``unmask prepare``, the manifest and the Lightning DataModule."""
