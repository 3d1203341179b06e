"""Activity: runs and deliveries, and the status bar's progress of sends under way."""
