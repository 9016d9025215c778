"""Shopify's side: webhook verification, shop domains, topics, OAuth and the Admin API."""
