"""Platform: routing work to agents (queues, skills, presence, offers), SLA, escalation, staffing."""
