"""The socket plumbing every live channel shares (the webchat visitor's, the agent's and the in-app
socket): frames and their refusal (``frames``), the connection loop with its outbox (``connection``) and
the live-feed fan-out to open sockets (``hub``). A socket brings only what is its own: how it
authenticates, which frames it accepts and what they do, and how it shows the events it receives."""
