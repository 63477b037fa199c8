"""The access log: writing, reading and replaying it."""
