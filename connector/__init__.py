"""shopify-tracking-connector: every Shopify order reaches the tracking platform, once."""

__version__ = "0.1.0"
