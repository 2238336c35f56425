"""Per DSO site × PLMN status, subscriptions and their durable delivery (webhook, SSE)."""
