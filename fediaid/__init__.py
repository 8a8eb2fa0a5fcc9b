"""fediaid: a federated ActivityPub server for neighborhood mutual aid groups."""

__version__ = "0.1.0"
