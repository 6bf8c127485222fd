"""Model weights: registry, download, import, verification and safe loading."""
