"""The fuzzed server and who calls it (made by conftest.fuzz_target)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from tests.fuzz import seeds
from tests.support.server import ServerProcess


@dataclass(frozen=True)
class FuzzTarget:
    server: ServerProcess
    database: str
    instance: str
    admin_key: str
    low_key: str  # an instance key of `instance`, role `run`

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def headers(self, key: str) -> dict[str, str]:
        """The key, and the instance for the service and batch doors (their paths have none)."""
        return {"X-API-KEY": key, "X-RUNPLANE-INSTANCE": self.instance}

    def callers(self) -> dict[str, str]:
        return {"admin": self.admin_key, "run-role": self.low_key}


def still_answers(target: FuzzTarget) -> None:
    """After the fuzzing: /healthz is ok and a normal request of each door works."""
    assert httpx.get(f"{target.base_url}/healthz", timeout=30).json()["status"] == "ok"
    with httpx.Client(base_url=target.base_url, timeout=30,
                      headers=target.headers(target.admin_key)) as admin:
        seeds.assert_normal_requests_answer(admin, target.instance)

