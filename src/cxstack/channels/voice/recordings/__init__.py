"""Recordings and transcripts of calls: attached to the conversation, copied into the file store."""
