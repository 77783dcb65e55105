"""An internal service that prices usage before the work and commits it after.

Run the server (`make run` in the repository), then:

    python client/examples/usage_service.py

It needs only the client package (`pip install ./client`).
"""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime, timedelta

from rating import RatingClient, errors, usage


def main() -> None:
    with RatingClient.from_env() as client:  # RATING_TARGET, default 127.0.0.1:50051
        with contextlib.suppress(errors.AlreadyExistsError):
            client.create_account("demo-team", plan="pro")

        # The producer's own ids: unique per account, stable across its retries.
        turn = f"conv-{uuid.uuid4().hex[:8]}:turn-1"
        who = {"account_id": "demo-team", "occurred_at": datetime.now(UTC)}
        items = [
            *usage.model_tokens(
                "豆包·工具调用", input_tokens=1234, output_tokens=567, usage_id=turn, **who
            ),
            usage.agent_calls(1, usage_id=f"{turn}:call", **who),
            usage.rtc_audio(timedelta(seconds=61), usage_id=f"{turn}:voice", **who),
        ]

        quote = client.quote(items, account_id="demo-team")
        assert quote.funding is not None
        print(f"quote: {quote.total_points} points, covered: {quote.funding.covered}")

        receipt = client.commit(items)  # a request_id is generated; a retry charges once
        for line in receipt.lines:
            sources = ", ".join(f"{part.points} {part.source}" for part in line.funding)
            print(f"  {line.sku}: {line.quantity} {line.unit} = {line.points} points ({sources})")
        print(f"charge {receipt.charge_id}: {receipt.total_points} points")

        again = client.commit(items, request_id=receipt.request_id)
        print(
            f"retried with the same request_id: same charge? {again.charge_id == receipt.charge_id}"
        )

        try:
            client.quote([usage.item("model.gpt-9.input", 10, usage_id="x", **who)])
        except errors.InvalidArgumentError as error:
            for violation in error.violations:
                print(f"refused: {violation.field} {violation.reason}")

        balance = client.get_balance("demo-team")
        print(f"free points left today: {balance.free_points_left}")


if __name__ == "__main__":
    main()
