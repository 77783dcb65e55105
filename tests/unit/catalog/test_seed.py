"""Every name on the pricing page resolves to its price in the seed catalog."""

from __future__ import annotations

from decimal import Decimal

import pytest

from rating_server.catalog.model import CatalogSnapshot

# (name on the pricing page, canonical SKU, points per price unit, unit)
BILLING_ITEMS = [
    ("Doubao-pro-32k 推理（输入）", "model.doubao-pro-32k.input", "0.8", "token"),
    ("Doubao-pro-32k 推理（输出）", "model.doubao-pro-32k.output", "2", "token"),
    ("Doubao-1.5-pro-32k 推理（输入）", "model.doubao-1.5-pro-32k.input", "0.8", "token"),
    ("Doubao-1.5-pro-32k 推理服务（输出）", "model.doubao-1.5-pro-32k.output", "2", "token"),
    ("Doubao-1.5-pro-256k 推理服务（输入）", "model.doubao-1.5-pro-256k.input", "5", "token"),
    ("Doubao-1.5-pro-256k 推理服务（输出）", "model.doubao-1.5-pro-256k.output", "9", "token"),
    ("Doubao-pro-256k 推理服务（输入）", "model.doubao-pro-256k.input", "5", "token"),
    ("Doubao-pro-256k 推理服务（输出）", "model.doubao-pro-256k.output", "9", "token"),
    ("Doubao-lite-128k 推理服务（输入）", "model.doubao-lite-128k.input", "0.8", "token"),
    ("Doubao-lite-128k 推理服务（输出）", "model.doubao-lite-128k.output", "1", "token"),
    ("Doubao-lite-32k 推理服务（输入）", "model.doubao-lite-32k.input", "0.3", "token"),
    ("Doubao-lite-32k 推理服务（输出）", "model.doubao-lite-32k.output", "0.6", "token"),
    ("Doubao-vision-pro-32k 推理服务（输入）", "model.doubao-vision-pro-32k.input", "3", "token"),
    ("Doubao-vision-pro-32k 推理服务（输出）", "model.doubao-vision-pro-32k.output", "9", "token"),
    (
        "Doubao-vision-lite-32k 推理服务（输入）",
        "model.doubao-vision-lite-32k.input",
        "1.5",
        "token",
    ),
    (
        "Doubao-vision-lite-32k 推理服务（输出）",
        "model.doubao-vision-lite-32k.output",
        "4.5",
        "token",
    ),
    ("DeepSeek-V3推理（输入）", "model.deepseek-v3.input", "2", "token"),
    ("DeepSeek-V3推理（输出）", "model.deepseek-v3.output", "8", "token"),
    ("DeepSeek-R1推理（输入）", "model.deepseek-r1.input", "4", "token"),
    ("DeepSeek-R1推理（输出）", "model.deepseek-r1.output", "16", "token"),
    (
        "DeepSeek-R1-Distill-Qwen-7B推理（输入）",
        "model.deepseek-r1-distill-qwen-7b.input",
        "0.6",
        "token",
    ),
    (
        "DeepSeek-R1-Distill-Qwen-7B推理（输出）",
        "model.deepseek-r1-distill-qwen-7b.output",
        "2.4",
        "token",
    ),
    (
        "DeepSeek-R1-Distill-Qwen-32B推理（输入）",
        "model.deepseek-r1-distill-qwen-32b.input",
        "1.5",
        "token",
    ),
    (
        "DeepSeek-R1-Distill-Qwen-32B推理（输出）",
        "model.deepseek-r1-distill-qwen-32b.output",
        "6",
        "token",
    ),
    ("智能体调用费", "agent.call", "2", "call"),
    ("系统音色文字转语音", "speech.tts.system_voice", "0.5", "character"),
    ("大模型流式语音识别", "speech.asr.streaming", "75", "millisecond"),
    ("大模型录音文件识别", "speech.asr.file", "39", "millisecond"),
    ("小程序语音通话", "rtc.audio.miniprogram_voice", "9", "millisecond"),
    ("语音通话", "rtc.audio.voice", "7", "millisecond"),
    ("对话式Al-音频", "rtc.audio.conversational_ai", "9", "millisecond"),
    ("4K 视频", "rtc.video.4k", "252", "millisecond"),
    ("2K 视频", "rtc.video.2k", "112", "millisecond"),
    ("1080P 视频", "rtc.video.1080p", "63", "millisecond"),
    ("720P 视频", "rtc.video.720p", "28", "millisecond"),
    ("360P 视频", "rtc.video.360p", "14", "millisecond"),
    ("知识库空间超额用量", "knowledge.storage", "1.5", "byte_millisecond"),
]

# The pricing page's model names (模型名称), each with an input and an output price.
MODEL_NAMES = {
    "豆包·通用模型·Pro": "doubao-pro-32k",
    "豆包·工具调用": "doubao-pro-32k",
    "豆包·角色扮演·Pro": "doubao-pro-32k",
    "豆包·Pro·1.5·32k": "doubao-1.5-pro-32k",
    "豆包·Pro·1.5·256k": "doubao-1.5-pro-256k",
    "豆包·通用模型·Pro·256k": "doubao-pro-256k",
    "豆包·通用模型·Lite·128k": "doubao-lite-128k",
    "豆包·通用模型·Lite": "doubao-lite-32k",
    "豆包·视觉理解·Pro": "doubao-vision-pro-32k",
    "豆包·视觉理解·Lite": "doubao-vision-lite-32k",
    "DeepSeek-V3": "deepseek-v3",
    "DeepSeek-V3 工具调用": "deepseek-v3",
    "DeepSeek-R1": "deepseek-r1",
    "DeepSeek-R1 工具调用": "deepseek-r1",
    "DeepSeek-R1-Distill-Qwen-7B": "deepseek-r1-distill-qwen-7b",
    "DeepSeek-R1-Distill-Qwen-32B": "deepseek-r1-distill-qwen-32b",
}


@pytest.mark.parametrize(("name", "sku_id", "points", "unit"), BILLING_ITEMS)
def test_every_billing_item_of_the_pricing_page_resolves_to_its_price(
    seed: CatalogSnapshot, name: str, sku_id: str, points: str, unit: str
) -> None:
    sku = seed.resolve(name)
    assert sku is not None, name
    assert (sku.id, sku.unit, sku.billed_by) == (sku_id, unit, "coze")
    assert [p.unit_price for p in sku.prices] == [Decimal(points)]


@pytest.mark.parametrize("model_name", MODEL_NAMES)
@pytest.mark.parametrize("direction", ["input", "output"])
def test_every_model_name_resolves_for_input_and_output(
    seed: CatalogSnapshot, model_name: str, direction: str
) -> None:
    sku = seed.resolve(f"{model_name}.{direction}")
    assert sku is not None
    assert sku.id == f"model.{MODEL_NAMES[model_name]}.{direction}"


def test_the_seed_holds_the_page_and_nothing_priced_beyond_it(seed: CatalogSnapshot) -> None:
    priced = {sku_id for _, sku_id, _, _ in BILLING_ITEMS}
    extra = seed.skus.keys() - priced
    assert extra == {"model.ark.input", "model.ark.output", "plugin"}
    assert {seed.skus[s].billed_by for s in ("model.ark.input", "model.ark.output")} == {"ark"}
    assert seed.skus["plugin"].prices == ()


def test_plans_give_500_free_points_a_day_and_10_gib_of_storage(seed: CatalogSnapshot) -> None:
    assert set(seed.plans) == {"basic", "pro"}
    for plan in seed.plans.values():
        assert plan.daily_free_micros == 500 * 10**6
        assert plan.free_storage_bytes == 10 * 2**30
