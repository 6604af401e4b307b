"""Voice providers: the base class the voice channel talks to, and the vendors' plugins behind it."""
