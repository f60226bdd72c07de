"""Playbooks (处置预案): definitions and their parsing, tasks, deadlines and escalation, actions sent through
channels, and the job scheduler that drives them."""
