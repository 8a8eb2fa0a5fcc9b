"""Background workers: durable queues in the database, claimed with leases."""
