"""The catalogs (``<code>/LC_MESSAGES/messages.po``) and how they are kept up to date
(``catalogs.py``); docs/languages.md."""
