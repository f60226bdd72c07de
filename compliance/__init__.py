"""Compliance (合规): filing checks over the inventory, the check runner and its findings, the compliance figures."""
