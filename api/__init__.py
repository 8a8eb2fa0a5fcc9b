"""HTTP surfaces on Starlette: ActivityPub endpoints, web pages (and later the client APIs)."""
