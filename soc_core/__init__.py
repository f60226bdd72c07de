"""Core of edusoc: settings, event schema, org tree and roles, case-store models, clock."""
