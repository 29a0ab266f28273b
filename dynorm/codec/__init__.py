"""Attribute values: DynamoDB's wire form of Python values (pure)."""
