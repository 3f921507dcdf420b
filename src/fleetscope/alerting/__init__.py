"""Alerting, digest-side: rules evaluated against what digest has stored (and against its
absence, on a schedule), states per (rule, host) kept in the database, notifications through
an outbox (docs/alerting.md). Pure parts: signals.py, evaluate.py, messages.py; I/O: observe.py,
repo.py, channels.py, evaluator.py."""
