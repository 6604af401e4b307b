"""Customer interaction: the channels customers write on (email, SMS, ...)."""
