"""Zero-reports (零报告) during key periods (重要时段): declaration, daily submission, missing-report findings."""
