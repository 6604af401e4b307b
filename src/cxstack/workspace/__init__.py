"""The agent workspace: what agents and supervisors work with beside the customer record (canned
responses, saved inbox views, mentions in internal notes) and the pages they work in."""
