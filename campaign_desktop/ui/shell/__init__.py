"""The application shell: main window, tray, notifications, single instance, About, and
the restore dialog at start."""
