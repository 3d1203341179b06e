"""Campaigns: the table model, the editor and Send test."""
