"""The core behind every door, as a FastAPI dependency (the app's lifespan sets it)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from runplane.core.context import Core


async def get_core(request: Request) -> Core:
    # async: FastAPI would run a plain function in its thread pool, a thread hop per request
    return request.app.state.core  # type: ignore[no-any-return]


CoreDep = Annotated[Core, Depends(get_core)]
