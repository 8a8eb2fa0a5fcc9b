"""The instance's own web pages: server-rendered HTML that works without JavaScript."""
