"""The background scheduler that fires due campaigns while the app runs."""
