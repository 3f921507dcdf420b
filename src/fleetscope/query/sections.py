"""A host's latest values grouped by section for the host page's cards: the agent's series
prefixes are the sections (model/series.py), and a label names the items of some of them."""

from __future__ import annotations

from dataclasses import dataclass

from fleetscope.model.series import split_series_key


@dataclass(frozen=True, slots=True)
class Section:
    """A host's latest values of one section: unlabelled fields, and per-item fields (per disk
    device, per filesystem mountpoint, per network interface)."""

    values: dict[str, float | None]
    items: dict[str, dict[str, float | None]]


# Section name → the label that names an item in it; sections not listed here are not shown
# on the host page yet.
SECTIONS: dict[str, str | None] = {
    "cpu": None,
    "memory": None,
    "disk": "device",
    "filesystem": "mountpoint",
    "network": "device",
}


def place(sections: dict[str, Section], key: str, value: float | None) -> None:
    """File one series' value under its section, as a field of the section or of its item.
    Per-mode CPU seconds are not a card; labelled series of an unlisted label are left out."""
    name, labels = split_series_key(key)
    section_name, _, field_name = name.partition("_")
    if section_name not in SECTIONS or "mode" in labels:
        return
    item_label = SECTIONS[section_name]
    section = sections.get(section_name)
    if section is None:
        section = sections[section_name] = Section({}, {})
    if item_label is not None and item_label in labels:
        section.items.setdefault(labels[item_label], {})[field_name] = value
    elif not labels:
        section.values[field_name] = value
