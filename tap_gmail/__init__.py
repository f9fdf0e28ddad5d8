"""tap-gmail: Gmail messages, threads and labels as CP-CAL records (built under issue 3)."""
