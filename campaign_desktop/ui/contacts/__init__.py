"""Contacts and lists: the tab, its paged model, the CSV import dialog."""
