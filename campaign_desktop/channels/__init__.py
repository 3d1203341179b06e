"""Transports that deliver a rendered message (SMTP today)."""
