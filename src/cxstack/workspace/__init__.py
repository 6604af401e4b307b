"""The agent workspace and supervisor console in the browser: server-rendered pages (``api.py``), their
templates and their own scripts and styles (``static/``); the live parts talk to the other layers' APIs
and sockets from the browser."""
