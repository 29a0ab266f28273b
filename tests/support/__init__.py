"""Test helpers that are not fixtures: the loopback fault proxy."""
