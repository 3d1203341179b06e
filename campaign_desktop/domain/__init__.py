"""Pure-Python domain: recurrence, time zones, templates, validation, views. No Qt, no SQL."""
