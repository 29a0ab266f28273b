"""Model declarations: table metadata, keys, indexes, templates, and the pure
read-decoding and write-preparation every path shares."""
