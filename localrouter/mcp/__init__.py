"""The MCP gateway: upstream MCP servers merged behind ``/mcp``, per-strategy access, skills."""
