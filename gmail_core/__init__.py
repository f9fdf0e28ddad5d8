"""Shared core of tap-gmail and target-gmail: auth, transport, quota, breaker, batch, CP-CAL.

Nothing Singer-specific lives here (see ../shared/DESIGN.md). Built under issue 3.
"""
