"""Dialects: how each wire format a client speaks is parsed into a gateway request and how
the outcome is encoded back (its JSON, its SSE framing, its error envelope)."""
