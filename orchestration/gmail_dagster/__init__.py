"""Dagster definitions for tap-gmail: one partition per mailbox shard (see definitions.py)."""
