"""Scheduling a campaign: the schedule dialog and its occurrence preview."""
