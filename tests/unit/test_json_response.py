"""Every door answers with api/json_response.JSONResponse: UTF-8 JSON, and text UTF-8 cannot
encode (a lone surrogate kept before the doors refused it) escaped rather than a 500."""

from __future__ import annotations

import json

from runplane.api.json_response import JSONResponse


def test_ordinary_text_is_utf8() -> None:
    assert JSONResponse({"name": "café"}).body == '{"name":"café"}'.encode()


def test_a_lone_surrogate_is_escaped_and_reads_back_the_same() -> None:
    body = JSONResponse({"name": "a\ud800", "other": "café"}).body
    assert body == b'{"name":"a\\ud800","other":"caf\\u00e9"}'
    assert json.loads(body) == {"name": "a\ud800", "other": "café"}
