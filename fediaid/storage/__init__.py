"""Storage: the engine, the tables, and one repository module per aggregate.

Repositories take an ``AsyncConnection`` and never commit: the services layer owns
transactions (``Database.write()`` / ``Database.read()``).
"""
