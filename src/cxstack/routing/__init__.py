"""Platform: routing, queues, presence, offers, SLA and escalation."""
