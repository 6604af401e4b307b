"""The agent workspace: what agents and supervisors work with beside the customer record (canned
responses, saved inbox views, mentions in internal notes) and the pages they work in: server-rendered
(``api.py``, ``templates/``) with their own scripts and styles (``static/``), whose live parts talk to the
other layers' APIs and sockets from the browser."""
