"""Writes: batches and transactions."""
