"""The Calendar tab: every upcoming send of every scheduled campaign, by month or week."""
