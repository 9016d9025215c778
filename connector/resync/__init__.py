"""Re-sync and reconciliation: fetch orders from Shopify into the webhook pipeline."""
