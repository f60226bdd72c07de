"""The Jinja web UI (Chinese first), kept until the Vue console replaces it."""
