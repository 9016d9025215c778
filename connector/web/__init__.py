"""Flask blueprints, one per area: webhooks, health, admin."""
