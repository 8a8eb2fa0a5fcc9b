"""ActivityPub, WebFinger and NodeInfo endpoints."""
