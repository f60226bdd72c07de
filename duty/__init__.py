"""Duty (值班): the roster of duty shifts, handover notes and response-time figures."""
