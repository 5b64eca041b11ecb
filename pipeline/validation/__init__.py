"""Fidelity and privacy metrics, computed in Python; Great Expectations checks the table."""
