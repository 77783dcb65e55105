"""Builders for usage items, so nobody assembles SKU strings or converts units by hand.

Every builder takes the producer's ``usage_id`` (unique per billing account: it is
what makes a retried commit charge once), the ``account_id``, when the usage happened
(``occurred_at``, an aware datetime; default: now) and optional ``attributes``::

    items = [
        *usage.model_tokens("doubao-lite-32k", input_tokens=1234, output_tokens=567,
                            usage_id="conv-7:turn-3", account_id="acme"),
        usage.agent_calls(1, usage_id="conv-7:turn-3:call", account_id="acme"),
        usage.rtc_video(timedelta(minutes=2), resolution="720p",
                        usage_id="room-9:alice", account_id="acme"),
    ]
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf import duration_pb2, timestamp_pb2

from rating.v1.usage_pb2 import UsageItem

__all__ = [
    "agent_calls",
    "ark_tokens",
    "asr",
    "item",
    "model_tokens",
    "rtc_audio",
    "rtc_video",
    "storage",
    "tts_characters",
]

ASR_MODES = ("streaming", "file")
RTC_AUDIO_KINDS = ("voice", "miniprogram_voice", "conversational_ai")
RTC_VIDEO_RESOLUTIONS = ("4k", "2k", "1080p", "720p", "360p")
_MILLISECOND = timedelta(milliseconds=1)


def _timestamp(when: datetime | None) -> timestamp_pb2.Timestamp:
    when = when or datetime.now(UTC)
    if when.tzinfo is None:
        raise ValueError("occurred_at must be timezone-aware (e.g. datetime.now(UTC))")
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(when.astimezone(UTC))
    return stamp


def milliseconds(duration: timedelta) -> int:
    """A duration in whole milliseconds, the base unit of every duration."""
    if duration < timedelta(0):
        raise ValueError(f"a duration cannot be negative: {duration}")
    whole, rest = divmod(duration, _MILLISECOND)
    if rest:
        raise ValueError(f"durations are billed in whole milliseconds, not {duration}")
    return whole


def item(
    sku: str,
    quantity: int,
    *,
    usage_id: str,
    account_id: str,
    occurred_at: datetime | None = None,
    duration: timedelta | None = None,
    attributes: Mapping[str, str] | None = None,
    reservation_id: str = "",
) -> UsageItem:
    """Any usage item: ``quantity`` base units of ``sku`` (an id, alias or pattern).

    ``reservation_id`` names the reservation (``RatingClient.reserve``) the item
    settles: committed, the usage is charged, the hold released and its points pay
    first. The single-item builders below take it too; one item per reservation."""
    if quantity < 0:
        raise ValueError(f"a quantity cannot be negative: {quantity}")
    message = UsageItem(
        usage_id=usage_id,
        account_id=account_id,
        sku=sku,
        quantity=quantity,
        occurred_at=_timestamp(occurred_at),
        attributes=dict(attributes or {}),
        reservation_id=reservation_id,
    )
    if duration is not None:
        message.duration.CopyFrom(duration_pb2.Duration())
        message.duration.FromMilliseconds(milliseconds(duration))
    return message


def _tokens(
    prefix: str, input_tokens: int, output_tokens: int, usage_id: str, **common: Any
) -> list[UsageItem]:
    if input_tokens == 0 and output_tokens == 0:
        raise ValueError("no tokens: give input_tokens, output_tokens or both")
    return [
        item(f"{prefix}.{direction}", count, usage_id=f"{usage_id}:{direction}", **common)
        for direction, count in (("input", input_tokens), ("output", output_tokens))
        if count
    ]


def model_tokens(
    model: str,
    *,
    input_tokens: int = 0,
    output_tokens: int = 0,
    usage_id: str,
    account_id: str,
    occurred_at: datetime | None = None,
    attributes: Mapping[str, str] | None = None,
) -> list[UsageItem]:
    """Tokens of a Coze model, by id or any name on the pricing page
    ("doubao-lite-32k", "DeepSeek-R1", "豆包·工具调用"): one item per direction with
    tokens, with usage ids ``<usage_id>:input`` and ``<usage_id>:output``."""
    return _tokens(
        model.removeprefix("model."),
        input_tokens,
        output_tokens,
        usage_id,
        account_id=account_id,
        occurred_at=occurred_at,
        attributes=attributes,
    )


def ark_tokens(
    endpoint: str,
    *,
    input_tokens: int = 0,
    output_tokens: int = 0,
    usage_id: str,
    account_id: str,
    occurred_at: datetime | None = None,
    attributes: Mapping[str, str] | None = None,
) -> list[UsageItem]:
    """Tokens of an Ark endpoint (billed by Volcano Ark, rated 0 here, kept for reports)."""
    if not endpoint or "." in endpoint:
        raise ValueError(f"not an Ark endpoint id: {endpoint!r}")
    return _tokens(
        f"model.ark.{endpoint}",
        input_tokens,
        output_tokens,
        usage_id,
        account_id=account_id,
        occurred_at=occurred_at,
        attributes=attributes,
    )


def agent_calls(count: int = 1, **common: Any) -> UsageItem:
    """Agent calls (智能体调用)."""
    return item("agent.call", count, **common)


def tts_characters(characters: int, **common: Any) -> UsageItem:
    """Characters of system-voice speech synthesis."""
    return item("speech.tts.system_voice", characters, **common)


def asr(duration: timedelta, *, mode: str = "streaming", **common: Any) -> UsageItem:
    """Speech recognition time, "streaming" or of a recorded "file"."""
    if mode not in ASR_MODES:
        raise ValueError(f"mode must be one of {ASR_MODES}, not {mode!r}")
    return item(f"speech.asr.{mode}", milliseconds(duration), **common)


def rtc_audio(duration: timedelta, *, kind: str = "voice", **common: Any) -> UsageItem:
    """Real-time audio call time: "voice", "miniprogram_voice" or "conversational_ai"."""
    if kind not in RTC_AUDIO_KINDS:
        raise ValueError(f"kind must be one of {RTC_AUDIO_KINDS}, not {kind!r}")
    return item(f"rtc.audio.{kind}", milliseconds(duration), **common)


def rtc_video(duration: timedelta, *, resolution: str, **common: Any) -> UsageItem:
    """Real-time video call time at a resolution: "4k", "2k", "1080p", "720p", "360p"."""
    resolution = resolution.lower()
    if resolution not in RTC_VIDEO_RESOLUTIONS:
        raise ValueError(f"resolution must be one of {RTC_VIDEO_RESOLUTIONS}, not {resolution!r}")
    return item(f"rtc.video.{resolution}", milliseconds(duration), **common)


def storage(stored_bytes: int, interval: timedelta, **common: Any) -> UsageItem:
    """A knowledge-base storage sample: the account's total stored bytes, held for
    ``interval``. Only the bytes beyond the plan's free quota are charged."""
    return item("knowledge.storage", stored_bytes, duration=interval, **common)
