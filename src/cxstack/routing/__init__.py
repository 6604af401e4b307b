"""Platform: routing work to agents (queues, skills, presence, offers, transfers), SLA, escalation, staffing."""
