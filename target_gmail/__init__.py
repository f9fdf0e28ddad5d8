"""target-gmail: label changes, label upserts and exactly-once sends (built under issue 4)."""
