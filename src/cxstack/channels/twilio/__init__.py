"""What the SMS and voice channels' Twilio plugins share: Twilio's REST API basics (auth, base URL, error
mapping), its signed form-encoded webhooks (``X-Twilio-Signature``), and reading the fields and phone
numbers those forms carry."""
