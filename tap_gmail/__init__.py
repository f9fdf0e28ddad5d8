"""tap-gmail: Gmail messages, threads and labels as CP-CAL records."""
