"""Prometheus text 0.0.4 and OpenMetrics 1.0 parsing: a leaf that the agent (scrapes) and ingest
(pushed exposition) share; it imports no other fleetscope package."""
