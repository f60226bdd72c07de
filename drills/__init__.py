"""Drills (演练): exercises run on the real incident machinery, kept apart from real incidents.

Empty until the drills work lands."""
