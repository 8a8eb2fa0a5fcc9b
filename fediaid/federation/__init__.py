"""Federation: translation between our domain and ActivityPub, remote actors and keys, and
the HTTP clients that talk to other servers. No transactions are committed here."""
