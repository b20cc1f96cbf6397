"""Widgets and state shared by the dashboard's pages (a folder, so never a page itself)."""
