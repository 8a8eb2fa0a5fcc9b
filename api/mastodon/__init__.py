"""The Mastodon client API (first slice): app registration, OAuth 2, instance information
and ``verify_credentials``, so Mastodon apps and libraries can register and log in."""
