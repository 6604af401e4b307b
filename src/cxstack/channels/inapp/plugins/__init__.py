"""Push-notification providers behind ``base.PushProvider``."""
