"""The billing rules, at the engine level (``engine.py``): pricing, rounding, the
checks of an item, and worked examples of whole items priced from the seed catalog."""

from __future__ import annotations

import re
import sys
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import NOON, mostly

from rating_server.catalog.model import CatalogSnapshot, Plan, PriceVersion, Sku
from rating_server.domain_errors import InvalidUsageError, Violation
from rating_server.engine import MAX_BATCH_ITEMS, Limits, RatedLine, Usage, rate_batch, rate_item
from rating_server.ids import all_plain, id_problem
from rating_server.money import Rate

GIB = 2**30
HOUR_MS = 3_600_000
NOON_NS = int(NOON.timestamp()) * 10**9


def usage(sku: str, quantity: int, duration_ms: int | None = None, **fields: object) -> Usage:
    values: dict = {
        "usage_id": "u-1",
        "account_id": "acct-1",
        "sku": sku,
        "quantity": quantity,
        "occurred_at_ns": NOON_NS,
        "duration_ns": None if duration_ms is None else duration_ms * 1_000_000,
    }
    values.update(fields)
    return Usage(**values)


SPEC_EXAMPLES = [
    ("model.doubao-lite-32k.input", 1234, None, "0.3702"),
    ("model.doubao-lite-32k.output", 567, None, "0.3402"),
    ("model.deepseek-r1.output", 3333, None, "53.328"),
    ("agent.call", 3, None, "6"),
    ("speech.tts.system_voice", 250, None, "125"),
    ("speech.asr.streaming", 90_500, None, "113.125"),
    ("rtc.audio.voice", 61_000, None, "7.116667"),
    ("rtc.video.720p", 600_000, None, "280"),
    ("rtc.audio.voice", 1, None, "0.000117"),
    ("knowledge.storage", int(12.5 * GIB), 2 * HOUR_MS, "7.5"),
    ("model.ark.ep-20261127-abc.input", 10_000, None, "0"),
]


@pytest.mark.parametrize(("sku", "quantity", "duration_ms", "points"), SPEC_EXAMPLES)
def test_worked_examples_of_the_spec(
    seed: CatalogSnapshot, sku: str, quantity: int, duration_ms: int | None, points: str
) -> None:
    batch = rate_batch(seed, [usage(sku, quantity, duration_ms)])
    assert batch.lines[0].points == Decimal(points)
    assert batch.total_points == Decimal(points)


def test_ark_usage_is_rated_zero_billed_by_ark_and_keeps_its_tokens(seed: CatalogSnapshot) -> None:
    line = rate_batch(seed, [usage("model.ark.ep-1.output", 10_000)]).lines[0]
    assert (line.sku.id, line.sku.billed_by, line.micros) == ("model.ark.output", "ark", 0)
    assert line.usage.quantity == 10_000
    assert line.rated_quantity == 10_000


@pytest.mark.parametrize(
    ("name", "sku_id"),
    [
        ("豆包·工具调用.input", "model.doubao-pro-32k.input"),
        ("豆包·角色扮演·Pro.output", "model.doubao-pro-32k.output"),
        ("豆包·通用模型·Pro.input", "model.doubao-pro-32k.input"),
        ("DeepSeek-V3 工具调用.output", "model.deepseek-v3.output"),
        ("deepseek-v3.INPUT", "model.deepseek-v3.input"),
        ("Doubao-1.5-pro-32k 推理服务（输出）", "model.doubao-1.5-pro-32k.output"),
        ("对话式Al-音频", "rtc.audio.conversational_ai"),
        ("对话式AI-音频", "rtc.audio.conversational_ai"),
        ("MODEL.DOUBAO-LITE-32K.INPUT", "model.doubao-lite-32k.input"),
    ],
)
def test_aliases_and_case_resolve_to_the_canonical_sku(
    seed: CatalogSnapshot, name: str, sku_id: str
) -> None:
    line = rate_batch(seed, [usage(name, 1000)]).lines[0]
    assert line.sku.id == sku_id
    assert line.usage.sku == name


def test_storage_within_the_free_quota_costs_nothing(seed: CatalogSnapshot) -> None:
    lines = rate_batch(
        seed,
        [
            usage("knowledge.storage", 5 * GIB, HOUR_MS),
            usage("knowledge.storage", 10 * GIB, HOUR_MS),
            usage("knowledge.storage", 10 * GIB + 1, HOUR_MS),
        ],
    ).lines
    assert [line.rated_quantity for line in lines] == [0, 0, HOUR_MS]
    assert [line.micros for line in lines] == [0, 0, 0]  # 1 byte-hour rounds to nothing


def test_storage_uses_the_accounts_own_free_quota(seed: CatalogSnapshot) -> None:
    quotas = {"big": 20 * GIB, "none": 0}
    lines = rate_batch(
        seed,
        [
            usage("knowledge.storage", 12 * GIB, HOUR_MS, account_id="big"),
            usage("knowledge.storage", 2 * GIB, HOUR_MS, account_id="none"),
        ],
        free_storage_bytes=lambda account, _at_ns: quotas[account],
    ).lines
    assert [line.points for line in lines] == [Decimal(0), Decimal(3)]


def test_zero_quantity_is_a_zero_line(seed: CatalogSnapshot) -> None:
    assert rate_batch(seed, [usage("agent.call", 0)]).total_micros == 0


def _catalog(*skus: Sku) -> CatalogSnapshot:
    return CatalogSnapshot(
        version=7, skus=skus, plans={"basic": Plan("basic", 500 * 10**6, 10 * GIB)}
    )


def _sku(
    prices: list[tuple[int, str]], price_unit: int = 60_000, increment: int = 0, sku_id: str = "s"
) -> Sku:
    return Sku(
        id=sku_id,
        name=sku_id,
        category="rtc",
        unit="millisecond",
        price_unit=price_unit,
        price_unit_label="minute",
        billed_by="coze",
        increment=increment,
        metering="count",
        aliases=(),
        patterns=(),
        prices=tuple(
            PriceVersion(start, Decimal(price), Rate(Decimal(price), price_unit))
            for start, price in prices
        ),
    )


def test_usage_is_rated_at_the_price_in_force_when_it_happened() -> None:
    change = NOON_NS
    catalog = _catalog(_sku([(0, "7"), (change, "14")]))
    lines = rate_batch(
        catalog,
        [
            usage("s", 60_000, occurred_at_ns=change - 1),
            usage("s", 60_000, occurred_at_ns=change),
            usage("s", 60_000, occurred_at_ns=change + 1),
        ],
    ).lines
    assert [line.points for line in lines] == [Decimal(7), Decimal(14), Decimal(14)]
    assert [line.price.effective_from_ns for line in lines] == [0, change, change]


def test_an_increment_rounds_the_quantity_up_to_a_multiple() -> None:
    catalog = _catalog(_sku([(0, "60")], increment=1000))  # 1 point per started second
    lines = rate_batch(
        catalog,
        [usage("s", 61_001), usage("s", 61_000), usage("s", 0), usage("s", 1)],
    ).lines
    assert [line.rated_quantity for line in lines] == [62_000, 61_000, 0, 1000]
    assert [line.points for line in lines] == [Decimal(62), Decimal(61), Decimal(0), Decimal(1)]


def test_every_bad_item_is_named_and_nothing_is_rated(seed: CatalogSnapshot) -> None:
    items = [
        usage("agent.call", 1),
        usage("no.such.sku", 1),
        usage("plugin.weather.lookup", 1),
        usage("agent.call", -1),
        usage("agent.call", 1, occurred_at_ns=None),
        usage("knowledge.storage", GIB),
        usage("agent.call", 1, usage_id="", account_id=""),
        usage("agent.call", 1, duration_ms=5),
        usage("", 1),
        usage("knowledge.storage", GIB, duration_ms=-1),
        usage("knowledge.storage", GIB, duration_ns=1),
    ]
    with pytest.raises(InvalidUsageError) as caught:
        rate_batch(seed, items)
    assert [(v.field, v.reason) for v in caught.value.violations] == [
        ("items[1].sku", "SKU_UNKNOWN"),
        ("items[2].sku", "SKU_UNPRICED"),
        ("items[3].quantity", "QUANTITY_NEGATIVE"),
        ("items[4].occurred_at", "OCCURRED_AT_MISSING"),
        ("items[5].duration", "DURATION_MISSING"),
        ("items[6].usage_id", "USAGE_ID_MISSING"),
        ("items[6].account_id", "ACCOUNT_ID_MISSING"),
        ("items[7].duration", "DURATION_NOT_ALLOWED"),
        ("items[8].sku", "SKU_MISSING"),
        ("items[9].duration", "DURATION_NEGATIVE"),
        ("items[10].duration", "DURATION_NOT_WHOLE_MS"),
    ]
    assert "plugin" in caught.value.violations[1].description


def test_ids_must_be_short_printable_and_without_spaces(seed: CatalogSnapshot) -> None:
    with pytest.raises(InvalidUsageError) as caught:
        rate_batch(
            seed,
            [
                usage("agent.call", 1, usage_id="u" * 129),
                usage("agent.call", 1, account_id=" \t"),
                usage("agent.call", 1, usage_id="a\x00b"),
                usage("agent.call", 1, usage_id="u" * 128, account_id="acct:1/x"),
            ],
        )
    assert [(v.field, v.reason) for v in caught.value.violations] == [
        ("items[0].usage_id", "USAGE_ID_INVALID"),
        ("items[1].account_id", "ACCOUNT_ID_INVALID"),
        ("items[2].usage_id", "USAGE_ID_INVALID"),
    ]


@pytest.mark.parametrize(
    "name", ["model.ark.\u202ex.input", "model.ark.a b.input", "model.ark.x\x00.output"]
)
def test_a_pattern_star_only_matches_an_id(seed: CatalogSnapshot, name: str) -> None:
    assert seed.resolve(name) is None
    assert seed.resolve("model.ark.ep-2026_abc.input") is not None


def test_quantities_amounts_instants_and_attributes_are_bounded(seed: CatalogSnapshot) -> None:
    now = NOON_NS
    items = [
        usage("agent.call", 10**15),
        usage("agent.call", 10**15 + 1),
        usage("rtc.video.4k", 10**15),  # 4.2e12 points: more than a line may cost
        usage("agent.call", 1, occurred_at_ns=946_684_800 * 10**9 - 1),
        usage("agent.call", 1, occurred_at_ns=now + 300 * 10**9),
        usage("agent.call", 1, occurred_at_ns=now + 300 * 10**9 + 1),
        usage("agent.call", 1, attributes={f"k{n}": "v" for n in range(33)}),
        usage("agent.call", 1, attributes={"bad key": "v"}),
        usage("agent.call", 1, attributes={"k": "v" * 513}),
        usage("agent.call", 1, attributes={"k" * 64: "v" * 512}),
    ]
    with pytest.raises(InvalidUsageError) as caught:
        rate_batch(seed, items, now_ns=now)
    assert [(v.field, v.reason) for v in caught.value.violations] == [
        ("items[0].quantity", "AMOUNT_TOO_LARGE"),
        ("items[1].quantity", "QUANTITY_TOO_LARGE"),
        ("items[2].quantity", "AMOUNT_TOO_LARGE"),
        ("items[3].occurred_at", "OCCURRED_AT_TOO_OLD"),
        ("items[5].occurred_at", "OCCURRED_AT_IN_FUTURE"),
        ("items[6].attributes", "ATTRIBUTES_TOO_MANY"),
        ("items[7].attributes", "ATTRIBUTE_KEY_INVALID"),
        ("items[8].attributes", "ATTRIBUTE_VALUE_TOO_LONG"),
    ]
    assert rate_batch(seed, [usage("agent.call", 5 * 10**8)]).total_micros == 10**15


def test_a_batch_costs_at_most_a_billion_points(seed: CatalogSnapshot) -> None:
    line = usage("agent.call", 250_000_000)  # 5e8 points
    assert rate_batch(seed, [line, line]).total_micros == 10**15
    with pytest.raises(InvalidUsageError) as caught:
        rate_batch(seed, [line, line, usage("agent.call", 1)])
    assert [(v.field, v.reason) for v in caught.value.violations] == [
        ("items", "BATCH_AMOUNT_TOO_LARGE")
    ]


def test_usage_before_the_first_price_is_refused() -> None:
    catalog = _catalog(_sku([(NOON_NS, "7")]))
    with pytest.raises(InvalidUsageError) as caught:
        rate_batch(catalog, [usage("s", 1, occurred_at_ns=NOON_NS - 1)])
    assert [(v.field, v.reason) for v in caught.value.violations] == [
        ("items[0].occurred_at", "SKU_UNPRICED_AT")
    ]


def test_a_batch_is_between_one_and_ten_thousand_items(seed: CatalogSnapshot) -> None:
    with pytest.raises(InvalidUsageError) as empty:
        rate_batch(seed, [])
    assert empty.value.violations[0].reason == "ITEMS_EMPTY"
    assert len(rate_batch(seed, [usage("agent.call", 1)] * MAX_BATCH_ITEMS).lines) == 10_000
    with pytest.raises(InvalidUsageError) as full:
        rate_batch(seed, [usage("agent.call", 1)] * (MAX_BATCH_ITEMS + 1))
    assert (full.value.violations[0].field, full.value.violations[0].reason) == (
        "items",
        "ITEMS_TOO_MANY",
    )


# Properties: exactness of a line, of a total, and of the rounding, for any size (the
# limits that keep amounts inside int64 are tested on their own).
UNBOUNDED = Limits(max_quantity=2**63, max_line_micros=2**256, max_batch_micros=2**256)

prices = st.decimals(min_value=0, max_value=10_000, places=4, allow_nan=False)
price_units = st.sampled_from([1, 1000, 60_000, 3_865_470_566_400_000, 7])
quantities = st.integers(min_value=0, max_value=2**63 - 1)


def exact_points(quantity: int, price: Decimal, price_unit: int) -> Fraction:
    return Fraction(quantity) * Fraction(price) / price_unit


@given(price=prices, price_unit=price_units, quantity=quantities)
def test_a_line_is_the_exact_formula_rounded_half_up_once(
    price: Decimal, price_unit: int, quantity: int
) -> None:
    catalog = _catalog(_sku([(0, str(price))], price_unit=price_unit))
    micros = rate_batch(catalog, [usage("s", quantity)], limits=UNBOUNDED).lines[0].micros
    exact_micros = exact_points(quantity, price, price_unit) * 10**6
    floor = exact_micros.numerator // exact_micros.denominator
    expected = floor + (1 if exact_micros - floor >= Fraction(1, 2) else 0)
    assert micros == expected


# Prices from the pricing page, written here independently of the catalog file.
PAGE_PRICES = {
    "model.doubao-lite-32k.input": (Decimal("0.3"), 1000),
    "model.doubao-lite-32k.output": (Decimal("0.6"), 1000),
    "model.deepseek-r1.output": (Decimal("16"), 1000),
    "model.doubao-vision-lite-32k.output": (Decimal("4.5"), 1000),
    "agent.call": (Decimal("2"), 1),
    "speech.tts.system_voice": (Decimal("0.5"), 1),
    "speech.asr.streaming": (Decimal("75"), 60_000),
    "rtc.audio.voice": (Decimal("7"), 60_000),
    "rtc.video.4k": (Decimal("252"), 60_000),
}


@given(
    st.lists(
        st.tuples(st.sampled_from(sorted(PAGE_PRICES)), st.integers(0, 2**63 - 1)),
        min_size=1,
        max_size=50,
    )
)
def test_lines_sum_to_the_total_and_rounding_never_drifts_more_than_half_a_micro_per_line(
    seed: CatalogSnapshot, entries: list[tuple[str, int]]
) -> None:
    batch = rate_batch(seed, [usage(sku, quantity) for sku, quantity in entries], limits=UNBOUNDED)
    exact = [exact_points(quantity, *PAGE_PRICES[sku]) for sku, quantity in entries]
    for line, value in zip(batch.lines, exact, strict=True):
        assert abs(Fraction(line.micros, 10**6) - value) <= Fraction(1, 2 * 10**6)
    assert batch.total_points == sum((line.points for line in batch.lines), Decimal(0))
    assert abs(Fraction(batch.total_micros, 10**6) - sum(exact)) <= Fraction(
        len(entries), 2 * 10**6
    )


def rated_one_by_one(
    catalog: CatalogSnapshot, usages: list[Usage], limits: Limits, now_ns: int
) -> tuple[list[RatedLine], list[str]]:
    """Every item through the rule-by-rule path (``rate_item``), none inline."""
    lines: list[RatedLine] = []
    violations: list[Violation] = []
    quota = lambda _account, _at_ns: catalog.default_plan.free_storage_bytes  # noqa: E731
    for index, item in enumerate(usages):
        line = rate_item(
            catalog, index, item, quota, limits, now_ns + limits.max_future_ns, violations
        )
        if line is not None:
            lines.append(line)
    return lines, [f"{v.field} {v.reason}" for v in violations]


plain_usages = st.builds(
    Usage,
    usage_id=mostly("u-1", "", " ", "a b", "x" * 128, "x" * 129, "é", "\u200b", "\t"),
    account_id=mostly("acct-1", "", "a\nb", "y" * 129),
    sku=mostly(
        "model.doubao-lite-32k.input",
        "Doubao-lite-32k.input",
        "agent.call",
        "knowledge.storage",
        "model.ark.ep-1.output",
        "model.ark.a b.output",
        "plugin.search",
        "no.such.sku",
        "",
    ),
    quantity=mostly(1834, 0, -1, 10**15, 10**15 + 1),
    occurred_at_ns=mostly(NOON_NS, None, 0, NOON_NS + 10**13, 2**62),
    duration_ns=mostly(None, 60_000_000_000, -1, 1),
    attributes=st.dictionaries(
        mostly("agent_id", "", "bad key", "k" * 65), mostly("api", "", "v" * 513), max_size=3
    ),
)


@settings(max_examples=400)
@given(
    st.lists(plain_usages, min_size=1, max_size=4),
    st.sampled_from([Limits(), Limits(max_attribute_key=100, max_attribute_value=1000)]),
)
def test_items_rated_inline_get_the_same_line_or_problems_as_rule_by_rule(
    seed: CatalogSnapshot, usages: list[Usage], limits: Limits
) -> None:
    now_ns = NOON_NS + 3600 * 10**9
    lines, problems = rated_one_by_one(seed, usages, limits, now_ns)
    try:
        batch = rate_batch(seed, usages, limits=limits, now_ns=now_ns)
    except InvalidUsageError as error:
        assert problems
        assert [f"{v.field} {v.reason}" for v in error.violations] == problems
    else:
        assert not problems
        assert list(batch.lines) == lines


def test_a_long_key_allowed_by_other_limits_is_still_refused_by_the_default_ones(
    seed: CatalogSnapshot,
) -> None:
    key = "k" * 80
    lenient = Limits(max_attribute_key=100)
    rate_batch(seed, [usage("agent.call", 1, attributes={key: "v"})], limits=lenient)
    with pytest.raises(InvalidUsageError) as caught:
        rate_batch(seed, [usage("agent.call", 1, attributes={key: "v"})])
    assert caught.value.violations[0].reason == "ATTRIBUTE_KEY_INVALID"


def test_an_id_character_is_good_when_printable_and_not_whitespace_over_all_of_unicode() -> None:
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        good = char.isprintable() and not char.isspace() and re.fullmatch(r"\S", char)
        assert (id_problem(char) is None) == bool(good), hex(code)
        assert all_plain([char, "ok"]) == bool(good), hex(code)


@settings(max_examples=500)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(["", "u-1", " ", "a b", "x" * 128, "x" * 129, "é" * 128, "\x7f"]),
            st.text(st.characters(max_codepoint=0x7F), max_size=130),
            st.text(max_size=130),
        ),
        max_size=5,
    )
)
def test_a_batch_of_ids_is_plain_when_every_id_is_good(values: list[str]) -> None:
    assert all_plain(values) == all(id_problem(value) is None for value in values)


def test_attribute_problems_are_named_in_key_order_however_the_map_was_sent(
    seed: CatalogSnapshot,
) -> None:
    """A map's order is the sender's (protobuf's, in any order): the problems are not."""
    found = []
    for attributes in ({"agent_id": "v" * 513, "": "api"}, {"": "api", "agent_id": "v" * 513}):
        with pytest.raises(InvalidUsageError) as raised:
            rate_batch(seed, [usage("agent.call", 1, attributes=attributes)], now_ns=NOON_NS)
        found.append([v.reason for v in raised.value.violations])
    assert found == [["ATTRIBUTE_KEY_INVALID", "ATTRIBUTE_VALUE_TOO_LONG"]] * 2
