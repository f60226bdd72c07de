"""The ingest service and the EventStore implementations."""
