"""parcelLab API v4 target (placeholder until the Target class lands)."""
