"""The agent's settings ([agent] table, FLEETSCOPE_* variables, command-line options)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, ClassVar

from pydantic import BaseModel, Field, HttpUrl, SecretStr

from fleetscope.agent.collectors.disk import DiskSettings
from fleetscope.agent.collectors.filesystem import FilesystemSettings
from fleetscope.agent.collectors.network import NetworkSettings
from fleetscope.agent.collectors.processes import ProcessesSettings
from fleetscope.model.settings import FleetscopeSettings


class AgentSettings(FleetscopeSettings):
    TOML_TABLE: ClassVar[str] = "agent"

    data_dir: Path = Path("data")
    server_url: HttpUrl | None = None
    api_key: SecretStr | None = None
    interval_seconds: Annotated[float, Field(gt=0, le=86400)] = 10.0
    procfs: Path = Path("/proc")
    sysfs: Path = Path("/sys")
    rootfs: Path = Path("/")
    collectors: list[str] | None = Field(
        default=None, description="collector names to run; default: those enabled by default"
    )
    collector_timeout_seconds: Annotated[float, Field(gt=0)] = 5.0
    upload_timeout_seconds: Annotated[float, Field(gt=0)] = 10.0
    max_snapshots_per_upload: Annotated[int, Field(ge=1, le=10_000)] = 100
    network: NetworkSettings = Field(default_factory=NetworkSettings)
    disk: DiskSettings = Field(default_factory=DiskSettings)
    processes: ProcessesSettings = Field(default_factory=ProcessesSettings)
    filesystem: FilesystemSettings = Field(default_factory=FilesystemSettings)

    def collector_settings(self) -> dict[str, BaseModel]:
        """The per-collector settings models, by collector name, for CollectorContext."""
        return {
            "network": self.network,
            "disk": self.disk,
            "processes": self.processes,
            "filesystem": self.filesystem,
        }
