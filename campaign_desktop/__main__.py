"""`python -m campaign_desktop`: the app, as `main.py` and the `campaign-desktop` script start it
(the start-at-login entry of a source install runs this)."""

from campaign_desktop.app import main

raise SystemExit(main())
