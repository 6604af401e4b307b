"""Service-level agreements: business calendars, policies matched to conversations, and clocks that run
on durable timers."""
