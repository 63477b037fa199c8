"""Real upstream MCP servers that the MCP gateway's tests run against.

- :mod:`tests.mcp_servers.fixture`: a server written with the official ``mcp`` SDK (2.x,
  ``MCPServer``), served over stdio, SSE or Streamable HTTP, whose tools exercise what the
  gateway must pass through or survive (structured output, annotations, errors, a crash, a slow
  call, the environment and headers it received, a tool added later with ``list_changed``).
- :mod:`tests.mcp_servers.broken`: servers that misbehave (garbage, silence, an early exit, a
  slow start; over HTTP: garbage, 500, silence).
- :mod:`tests.mcp_servers.run`: start them (and ``mcp-server-time``, ``server-everything``) from
  tests, on free loopback ports, bounded in time, killed at the end.

Run from the repository root: ``python -m tests.mcp_servers.fixture --transport stdio``.
"""
