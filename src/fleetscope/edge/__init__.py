"""The HTTP edge shared by ingest and web: one error shape (RFC 9457 problem details), one
request-size limit, security headers and the text rules every name must meet at the door."""
