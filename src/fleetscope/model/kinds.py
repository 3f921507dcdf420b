"""What a stream message body is. Ingest labels each message; digest dispatches on it."""

AGENT_PAYLOAD = "agent_payload"  # a model.payload.Payload as JSON
# A model.devices.AggregatorBatch as JSON (both aggregator endpoints enqueue the batch form).
AGGREGATOR_METRICS = "aggregator_metrics"
# A model.devices.PrometheusPush as JSON: the exposition text and the device it describes.
PROMETHEUS_TEXT = "prometheus_text"
# A model.devices.CollectionHeader as one JSON line, then the collection file's lines as they
# were uploaded (each a model.payload.Payload).
COLLECTION_FILE = "collection_file"
# A model.samples.SamplesBatch as MessagePack: series with their samples and metadata, from
# Prometheus remote_write or OTLP/HTTP metrics, hosts already named by ingest.
SERIES_SAMPLES = "series_samples"
# A perfcollector capture uploaded to POST /v1/upload: a model.devices.UploadHeader as one JSON
# line, then the capture exactly as uploaded (UploadHeader.bytes long), then the payloads ingest
# converted it into, one JSON line each (model.payload.Payload). Digest stores the file as a
# collection file of the machine's collector and the payloads as samples.
PERFCOLLECTOR_UPLOAD = "perfcollector_upload"
