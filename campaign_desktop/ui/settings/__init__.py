"""Settings: the dialog and its pages (sending, SMTP, database)."""
