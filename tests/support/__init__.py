"""Helpers for the end-to-end tests: a stand-in Plex server, the daemon as a
subprocess, and webhook bodies built the way Plex Media Server builds them."""
