"""What a stream message body is. Ingest labels each message; digest dispatches on it."""

AGENT_PAYLOAD = "agent_payload"  # a model.payload.Payload as JSON
