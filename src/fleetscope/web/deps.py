"""Typed parameters shared by the read routes."""

from typing import Annotated

from fastapi import Path, Query

# Ids are 64-bit in both databases: a larger number is a 422 naming the parameter, not an
# OverflowError inside the driver.
MAX_ID = 2**63 - 1
HostId = Annotated[int, Path(ge=1, le=MAX_ID, description="the host's id")]
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
QueryId = Annotated[int, Query(ge=1, le=MAX_ID)]
