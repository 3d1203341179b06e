"""What every feature shares: the event bridge, the background pool, prompts, the models'
base, widgets, theme, icons, accessibility names, formatting."""
