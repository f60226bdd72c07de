"""Notices (通报): issue a notice to a unit, its acknowledgement, rectification, review and summons (约谈)."""
