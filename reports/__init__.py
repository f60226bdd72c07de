"""Incident reports (事件报告): 初报 / 续报 / 终报, their deadlines and their Word/PDF rendering."""
