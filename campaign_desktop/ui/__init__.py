"""PySide6 user interface: windows, models, dialogs, tray."""
