"""Reads: queries, scans, pagination and batch reads."""
