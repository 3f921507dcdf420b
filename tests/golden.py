"""Read node_exporter's expected scrape into {(metric, labels): value} for golden comparisons."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

SampleKey = tuple[str, frozenset[tuple[str, str]]]


def load_expected(path: Path, prefix: str = "") -> dict[SampleKey, float]:
    samples: dict[SampleKey, float] = {}
    for family in text_string_to_metric_families(path.read_text()):
        for sample in family.samples:
            if sample.name.startswith(prefix):
                samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def key(name: str, **labels: str) -> SampleKey:
    return (name, frozenset(labels.items()))
