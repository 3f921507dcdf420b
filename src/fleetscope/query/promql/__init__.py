"""PromQL over fleetscope's stored frames: the Prometheus query API's engine.

`promql-parser` (the maintained Rust parser, PyPI) turns a query into an AST; this package
evaluates the subset dashboards use over every step of a query at once, one numpy array per
series (`values.py`): selection from the store (`store.py`), range functions and
histogram_quantile (`functions.py`), aggregation (`aggregate.py`), binary operators and vector
matching (`binary.py`), and the walk over the AST (`engine.py`). Semantics follow Prometheus
2.42 (Debian bookworm's, which tests/web/test_promql_differential.py compares against): a range
vector holds the samples in [t - range, t], an instant selector looks back 5 minutes
inclusive. Anything outside the subset raises `Unsupported`, naming the part.
"""
