"""File handles: /proc/sys/fs/file-nr, as node_exporter's filefd collector (allocated and the
system's maximum). Linux only; elsewhere there is no such counter and the section is absent."""

from __future__ import annotations

from fleetscope.agent.collectors.base import CollectorContext
from fleetscope.agent.linux.proc import ProcFS
from fleetscope.model.payload_kernel import FileHandlesSection


class FileFdCollector:
    def __init__(self, procfs: ProcFS) -> None:
        self.procfs = procfs

    def close(self) -> None:
        self.procfs.close()

    def collect(self) -> FileHandlesSection | None:
        file_nr = self.procfs.file_nr()
        return FileHandlesSection(allocated=file_nr.allocated, maximum=file_nr.maximum)


class NoFileFdCollector:
    def collect(self) -> None:
        return None


def make_filefd_collector(context: CollectorContext) -> FileFdCollector | NoFileFdCollector:
    return FileFdCollector(context.procfs.kept_open()) if context.linux else NoFileFdCollector()
