"""The dashboard's static page (served by localrouter.server.dashboard)."""
