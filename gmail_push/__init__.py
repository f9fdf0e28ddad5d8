"""Gmail push for tap-gmail: watch renewal, a verified Pub/Sub push receiver, sync triggers."""
