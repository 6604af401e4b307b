"""Files: what customers and agents send and receive (uploads, email attachments and raw emails, call
recordings), each a record of one tenant and one conversation over bytes kept in the file store."""
