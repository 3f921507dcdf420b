"""A process may put control characters in its comm (prctl PR_SET_NAME); the server refuses
them in group names, so the agent escapes them rather than lose the snapshot."""

from __future__ import annotations

from fleetscope.agent.processes.groups import ProcessGrouper
from fleetscope.model.codec import convert
from fleetscope.model.payload import ProcessGroup
from tests.agent.test_process_groups import sample


def test_a_comm_with_control_characters_becomes_a_valid_group_name() -> None:
    name = ProcessGrouper().match(sample(7, "evil\x1b[2J\n"))
    assert name == "evil\\x1b[2J\\x0a"
    group = {
        "name": name,
        "num_procs": 1,
        "num_threads": 1,
        "cpu_user_seconds_total": 0,
        "cpu_system_seconds_total": 0,
        "read_bytes_total": 0,
        "write_bytes_total": 0,
        "resident_bytes": 0,
        "virtual_bytes": 0,
    }
    assert convert(group, ProcessGroup).name == name


def test_an_exporter_label_value_with_a_newline_is_escaped_not_lost() -> None:
    from fleetscope.agent.collectors.exporter_targets import ExporterTarget  # noqa: PLC0415
    from fleetscope.agent.collectors.exporters import select_samples  # noqa: PLC0415

    target = ExporterTarget(name="app", url="http://127.0.0.1:9100/metrics")
    (found,) = select_samples(target, b'app_error{msg="a\\nb"} 1\n', "text/plain")
    assert found.labels == {"msg": "a\\x0ab"}
