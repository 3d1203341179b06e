"""Campaign Desktop's entry point (also what PyInstaller freezes)."""

from campaign_desktop.app import main

raise SystemExit(main())
