"""The usage builders (``rating/usage.py``): one item per direction or unit, the SKU
each names, and what they refuse."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.protobuf import duration_pb2

from rating import usage
from rating.v1 import (
    usage_pb2,
)
from rating_server.catalog.model import CatalogSnapshot

from .fake import BEIJING, NOON, stamp

# Usage builders.

WHO: dict[str, Any] = {"account_id": "acme", "occurred_at": NOON}


def test_model_tokens_makes_one_item_per_direction_with_suffixed_usage_ids() -> None:
    items = usage.model_tokens(
        "doubao-lite-32k",
        input_tokens=1234,
        output_tokens=567,
        usage_id="conv-7:turn-3",
        attributes={"channel": "api"},
        **WHO,
    )
    assert [(i.sku, i.usage_id, i.quantity) for i in items] == [
        ("doubao-lite-32k.input", "conv-7:turn-3:input", 1234),
        ("doubao-lite-32k.output", "conv-7:turn-3:output", 567),
    ]
    for item in items:
        assert item.account_id == "acme"
        assert item.occurred_at == stamp(NOON)
        assert dict(item.attributes) == {"channel": "api"}
        assert not item.HasField("duration")


def test_model_tokens_skips_a_direction_without_tokens() -> None:
    only_output = usage.model_tokens("DeepSeek-R1", output_tokens=9, usage_id="u", **WHO)
    assert [(i.sku, i.usage_id, i.quantity) for i in only_output] == [
        ("DeepSeek-R1.output", "u:output", 9)
    ]
    only_input = usage.model_tokens("DeepSeek-R1", input_tokens=3, usage_id="u", **WHO)
    assert [i.usage_id for i in only_input] == ["u:input"]


@pytest.mark.parametrize("builder", [usage.model_tokens, usage.ark_tokens])
def test_token_builders_refuse_zero_tokens_in_both_directions(
    builder: Callable[..., list[usage_pb2.UsageItem]],
) -> None:
    with pytest.raises(ValueError, match="no tokens"):
        builder("ep-1", usage_id="u", **WHO)


def test_ark_tokens_name_the_endpoint_sku() -> None:
    items = usage.ark_tokens(
        "ep-20250101-abc", input_tokens=10, output_tokens=20, usage_id="u", **WHO
    )
    assert [(i.sku, i.usage_id, i.quantity) for i in items] == [
        ("model.ark.ep-20250101-abc.input", "u:input", 10),
        ("model.ark.ep-20250101-abc.output", "u:output", 20),
    ]


@pytest.mark.parametrize("endpoint", ["", "ep.1"])
def test_ark_tokens_refuse_a_bad_endpoint(endpoint: str) -> None:
    with pytest.raises(ValueError):
        usage.ark_tokens(endpoint, input_tokens=1, usage_id="u", **WHO)


@pytest.mark.parametrize(
    ("resolution", "sku"),
    [("720p", "rtc.video.720p"), ("4K", "rtc.video.4k"), ("1080p", "rtc.video.1080p")],
)
def test_rtc_video_sends_whole_milliseconds_at_a_resolution(resolution: str, sku: str) -> None:
    made = usage.rtc_video(
        timedelta(minutes=2, milliseconds=5), resolution=resolution, usage_id="r", **WHO
    )
    assert (made.sku, made.quantity, made.usage_id) == (sku, 120_005, "r")
    assert not made.HasField("duration")


def test_rtc_audio_asr_and_the_others_name_their_skus() -> None:
    assert usage.rtc_audio(timedelta(seconds=61), usage_id="a", **WHO).sku == "rtc.audio.voice"
    audio = usage.rtc_audio(timedelta(seconds=1), kind="conversational_ai", usage_id="a", **WHO)
    assert (audio.sku, audio.quantity) == ("rtc.audio.conversational_ai", 1000)
    streaming = usage.asr(timedelta(seconds=1.5), usage_id="s", **WHO)
    assert (streaming.sku, streaming.quantity) == ("speech.asr.streaming", 1500)
    assert usage.asr(timedelta(hours=1), mode="file", usage_id="s", **WHO).quantity == 3_600_000
    assert usage.asr(timedelta(0), mode="file", usage_id="s", **WHO).sku == "speech.asr.file"
    assert usage.agent_calls(3, usage_id="c", **WHO).sku == "agent.call"
    tts = usage.tts_characters(42, usage_id="t", **WHO)
    assert (tts.sku, tts.quantity) == ("speech.tts.system_voice", 42)


@pytest.mark.parametrize(
    "build",
    [
        lambda: usage.rtc_video(timedelta(seconds=1), resolution="8k", usage_id="x", **WHO),
        lambda: usage.rtc_audio(timedelta(seconds=1), kind="video", usage_id="x", **WHO),
        lambda: usage.asr(timedelta(seconds=1), mode="batch", usage_id="x", **WHO),
    ],
    ids=["resolution", "kind", "mode"],
)
def test_duration_builders_refuse_an_unknown_variant(build: Callable[[], object]) -> None:
    with pytest.raises(ValueError):
        build()


@pytest.mark.parametrize(
    "duration",
    [timedelta(microseconds=1500), timedelta(microseconds=1), timedelta(seconds=-1)],
    ids=["sub-millisecond", "one-microsecond", "negative"],
)
@pytest.mark.parametrize(
    "builder",
    [
        lambda d: usage.rtc_video(d, resolution="720p", usage_id="x", **WHO),
        lambda d: usage.rtc_audio(d, usage_id="x", **WHO),
        lambda d: usage.asr(d, usage_id="x", **WHO),
        lambda d: usage.storage(1, d, usage_id="x", **WHO),
    ],
    ids=["rtc_video", "rtc_audio", "asr", "storage"],
)
def test_durations_must_be_whole_non_negative_milliseconds(
    builder: Callable[[timedelta], object], duration: timedelta
) -> None:
    with pytest.raises(ValueError):
        builder(duration)


def test_storage_sends_the_bytes_as_quantity_and_the_interval_as_duration() -> None:
    made = usage.storage(5 * 2**30, timedelta(hours=1), usage_id="kb:1", **WHO)
    assert (made.sku, made.quantity) == ("knowledge.storage", 5 * 2**30)
    assert made.HasField("duration")
    assert made.duration == duration_pb2.Duration(seconds=3600)


def test_a_builder_stamps_now_when_no_occurred_at_is_given() -> None:
    before = datetime.now(UTC)
    made = usage.agent_calls(1, usage_id="c", account_id="acme")
    after = datetime.now(UTC)
    occurred = made.occurred_at.ToDatetime(tzinfo=UTC)
    assert before - timedelta(microseconds=1) <= occurred <= after


def test_a_builder_converts_an_aware_occurred_at_to_utc() -> None:
    made = usage.agent_calls(
        1, usage_id="c", account_id="acme", occurred_at=datetime(2026, 11, 27, 12, tzinfo=BEIJING)
    )
    assert made.occurred_at == stamp(NOON)


def test_a_builder_refuses_a_naive_occurred_at() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        usage.agent_calls(1, usage_id="c", account_id="acme", occurred_at=datetime(2026, 11, 27))


def test_a_builder_keeps_the_attributes_and_refuses_negative_quantities() -> None:
    made = usage.item("agent.call", 2, usage_id="c", attributes={"agent": "a-1", "k": "v"}, **WHO)
    assert dict(made.attributes) == {"agent": "a-1", "k": "v"}
    with pytest.raises(ValueError, match="negative"):
        usage.item("agent.call", -1, usage_id="c", **WHO)


def test_a_builder_names_the_reservation_its_item_settles() -> None:
    assert usage.item("agent.call", 1, usage_id="u", **WHO).reservation_id == ""
    voice = usage.rtc_audio(timedelta(seconds=1), usage_id="u", reservation_id="rsv-1", **WHO)
    assert voice.reservation_id == "rsv-1"
    settled = usage.item("rtc.audio", 1000, usage_id="u", reservation_id="rsv-2", **WHO)
    assert settled.reservation_id == "rsv-2"


def test_every_builder_sku_resolves_in_the_seed_catalog(
    catalog_snapshot: CatalogSnapshot,
) -> None:
    second = timedelta(seconds=1)
    built = [
        *usage.model_tokens(
            "doubao-lite-32k", input_tokens=1, output_tokens=1, usage_id="m", **WHO
        ),
        *usage.model_tokens("DeepSeek-R1", input_tokens=1, output_tokens=1, usage_id="m", **WHO),
        *usage.ark_tokens("ep-1", input_tokens=1, output_tokens=1, usage_id="a", **WHO),
        usage.agent_calls(1, usage_id="c", **WHO),
        usage.tts_characters(1, usage_id="t", **WHO),
        usage.storage(1, second, usage_id="s", **WHO),
        *(usage.asr(second, mode=mode, usage_id="x", **WHO) for mode in usage.ASR_MODES),
        *(
            usage.rtc_audio(second, kind=kind, usage_id="x", **WHO)
            for kind in usage.RTC_AUDIO_KINDS
        ),
        *(
            usage.rtc_video(second, resolution=resolution, usage_id="x", **WHO)
            for resolution in usage.RTC_VIDEO_RESOLUTIONS
        ),
    ]
    unresolved = [made.sku for made in built if catalog_snapshot.resolve(made.sku) is None]
    assert unresolved == []
