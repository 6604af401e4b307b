"""The webchat channel: the embeddable widget, its visitors' WebSockets and the agents' live socket."""
