"""Start-up recovery of a damaged SQLite file: the GUI's door to the automatic backups.

When `AppContext.open` refuses a damaged database (a "corrupt" StorageError), the restore
dialog lists `list_backups(data_dir)` and the user restores one (`restore_backup`) or starts
empty (`set_aside_database`). Nothing is deleted either way. Before a migration, the
start-up asks `migration_backup_size` whether a big backup is coming, to show its progress.
The file work itself (SQLite's backup API, the checks, the renames) lives in
`persistence/db.py`; this module is where the layers above reach it (docs/design.md §1).
"""

from __future__ import annotations

from campaign_desktop.persistence.db import (
    BackupProgress,
    list_backups,
    migration_backup_size,
    restore_backup,
    set_aside_database,
)

__all__ = [
    "BackupProgress",
    "list_backups",
    "migration_backup_size",
    "restore_backup",
    "set_aside_database",
]
