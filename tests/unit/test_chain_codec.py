"""The node's JSON is decoded with orjson, and exactly: a number wider than 64 bits is never rounded."""

from __future__ import annotations

import json

import pytest

from sweeper.chain import codec

pytestmark = pytest.mark.unit


def test_a_block_of_infos_decodes_as_the_standard_library_decodes_it():
    body = json.dumps(
        [{"id": "ab" * 32, "fee": 345000, "log": [{"data": "00" * 32, "topics": ["ddf2" + "0" * 60]}]}] * 3
    ).encode()
    assert codec.loads(body) == json.loads(body)


@pytest.mark.parametrize("number", [2**64 - 1, 2**64, 2**70, -(2**65), 10**30])
def test_wide_integers_keep_every_digit(number: int):
    body = json.dumps({"balance": number, "list": [1, number], "nested": {"x": number}}).encode()
    assert codec.loads(body) == {"balance": number, "list": [1, number], "nested": {"x": number}}
    assert json.loads(codec.dumps({"amount": number})) == {"amount": number}


def test_not_json_is_a_value_error():
    with pytest.raises(ValueError):
        codec.loads(b"<html>busy</html>")


def test_request_bodies_are_compact_json():
    assert codec.dumps({"num": 7, "visible": True}) == b'{"num":7,"visible":true}'


def test_a_block_sized_body_is_decoded_by_orjson_without_the_scan():
    infos = [{"id": "ab" * 32, "blockNumber": 7, "log": [{"data": "00" * 32}]}] * 400
    body = json.dumps(infos).encode()
    assert len(body) > codec.CHECKED_BYTES
    assert codec.loads(body) == infos
