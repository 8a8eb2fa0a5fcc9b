"""Use cases. The only layer that opens write transactions (``Database.write()``)."""
