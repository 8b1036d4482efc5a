"""Compatibility with the real systems runplane's doors imitate (recorded answers)."""
