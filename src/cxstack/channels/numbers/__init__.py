"""The tenants' provider phone numbers, shared by the channels that use them (SMS and voice)."""
