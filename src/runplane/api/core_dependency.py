"""The core behind every door, as a FastAPI dependency (the app's lifespan sets it)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from runplane.core.context import Core


def get_core(request: Request) -> Core:
    return request.app.state.core  # type: ignore[no-any-return]


CoreDep = Annotated[Core, Depends(get_core)]
