"""Delivery targets: each turns Shopify orders into one tracking platform's requests."""
