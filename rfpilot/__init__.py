"""rfpilot: a terminal-first AI troubleshooting copilot for MSP and IT engineers."""

__version__ = "0.1.0"
