"""The server's embedded stream pushes back on ingest only when digest runs in the process."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetscope.cli.settings import ServerSettings
from fleetscope.cli.wiring import SOFT_BACKLOG_BATCHES, make_stream
from fleetscope.config.settings import settings_from
from fleetscope.stream.sqlite import SQLiteStream


@pytest.mark.parametrize("in_process", [True, False])
def test_backpressure_only_with_an_in_process_digest(tmp_path: Path, in_process: bool) -> None:
    settings = settings_from(ServerSettings, {"data_dir": tmp_path, "embedded_digest": in_process})
    stream = make_stream(settings)
    assert isinstance(stream, SQLiteStream)
    assert stream.soft_backlog == (
        SOFT_BACKLOG_BATCHES * settings.digest_batch_size if in_process else None
    )
    stream.close()
