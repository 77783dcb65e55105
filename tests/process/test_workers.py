"""Several server processes on one port (``serve --workers N``), as an operator runs them."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from processes import Launch, ServerProcess, ledger_check
from prometheus_client.parser import text_string_to_metric_families
from support import NOON, item, seeded_database

from rating import RatingClient, usage
from rating.v1 import rating_service_pb2, rating_service_pb2_grpc

WORKER_LINE = re.compile(r"worker (?P<index>\d+) \(pid (?P<pid>\d+)\) serving")
TIMEOUT = 30.0


def start(
    launch: Launch, database: str | Path, *more: str, env: dict[str, str] | None = None
) -> ServerProcess:
    server = launch(
        "--db",
        str(database),
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--workers",
        "2",
        *more,
        env=env or dict(os.environ),
    )
    server.wait_started()
    return server


def worker_pids(server: ServerProcess) -> dict[int, int]:
    """Each worker's pid, by index, as last reported (a restart reports again)."""
    pids = {}
    for line in server.stderr.splitlines():
        found = WORKER_LINE.search(line)
        if found:
            pids[int(found["index"])] = int(found["pid"])
    return pids


def metrics_ports(server: ServerProcess) -> list[int]:
    """Each worker's metrics port, from its start line."""
    lines = [line for line in server.stderr.splitlines() if WORKER_LINE.search(line)]
    return [int(json.loads(line)["message"].rsplit("metrics on port ", 1)[1]) for line in lines]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return status.exists() and status.read_text().split(") ")[1][0] != "Z"


def wait_until(condition: Callable[[], bool], timeout: float = TIMEOUT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def own_connection(address: str) -> grpc.Channel:
    """A channel with a TCP connection of its own (channels otherwise share one)."""
    return grpc.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])


def quote_once(address: str) -> str:
    with own_connection(address) as channel:
        stub = rating_service_pb2_grpc.RatingServiceStub(channel)
        request = rating_service_pb2.QuoteRequest(items=[item("agent.call", 3)])
        return stub.Quote(request, timeout=TIMEOUT).total_points


def rpcs_served(metrics_port: int) -> float:
    with urllib.request.urlopen(
        f"http://127.0.0.1:{metrics_port}/metrics", timeout=TIMEOUT
    ) as page:
        text = page.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "grpc_server_handled_total"
    )


def test_two_workers_share_the_port_and_both_serve_and_sigterm_stops_them_all(
    launch: Launch, seeded_db: Path
) -> None:
    env = dict(os.environ, RATING_METRICS_LISTEN="127.0.0.1:0")
    server = start(launch, seeded_db, env=env)
    ports = metrics_ports(server)
    assert len(ports) == 2, server.stderr
    pids = list(worker_pids(server).values())
    assert all(alive(pid) for pid in pids)
    # Connections are spread over the workers: both answer some of forty.
    assert {quote_once(server.address) for _ in range(40)} == {"6"}
    assert all(rpcs_served(port) > 0 for port in ports), [rpcs_served(p) for p in ports]
    assert "workers 2" in server.stderr
    assert server.terminate() == 0
    assert "rating-server stopped" in server.stderr
    assert wait_until(lambda: not any(alive(pid) for pid in pids))


def test_clients_of_one_process_each_have_a_connection_and_so_reach_both_workers(
    launch: Launch, seeded_db: Path
) -> None:
    env = dict(os.environ, RATING_METRICS_LISTEN="127.0.0.1:0")
    server = start(launch, seeded_db, env=env)
    ports = metrics_ports(server)
    clients = [RatingClient(server.address) for _ in range(20)]
    try:
        for client in clients:
            quote = client.quote(
                [usage.agent_calls(usage_id="u-1", account_id="a", occurred_at=NOON)]
            )
            assert quote.total_points == 2
    finally:
        for client in clients:
            client.close()
    assert all(rpcs_served(port) > 0 for port in ports), [rpcs_served(p) for p in ports]
    server.terminate()


def test_commits_through_both_workers_charge_every_usage_once(
    launch: Launch, database: str
) -> None:
    # Two processes racing to commit the same requests to one database: on each engine.
    server = start(launch, database)
    with RatingClient(server.address) as admin:
        admin.create_account("shared", plan="basic", pay_as_you_go=True)
    errors: list[BaseException] = []

    def client(number: int) -> None:
        # Every client sends the same 30 requests (same request_ids, same usage): each
        # on its own connection, so the workers race to commit them.
        try:
            with own_connection(server.address) as channel:
                stub = rating_service_pb2_grpc.RatingServiceStub(channel)
                for batch in range(30):
                    stub.CommitCharges(
                        rating_service_pb2.CommitChargesRequest(
                            request_id=f"req-{batch}",
                            items=[
                                item(
                                    "agent.call",
                                    1,
                                    usage_id=f"u-{batch}-{i}",
                                    account_id="shared",
                                )
                                for i in range(5)
                            ],
                        ),
                        timeout=TIMEOUT,
                    )
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    with RatingClient(server.address) as reader:
        statement = reader.get_statement("shared", NOON.strftime("%Y-%m"))
    # 150 calls of 2 points each, charged once whoever committed them.
    assert statement.total.points == 300
    assert statement.total.lines == 150
    server.terminate()
    assert ledger_check(database).returncode == 0


def test_a_worker_that_dies_is_restarted(launch: Launch, seeded_db: Path) -> None:
    server = start(launch, seeded_db)
    first = worker_pids(server)[0]
    os.kill(first, signal.SIGKILL)
    server.wait_for_line(f"worker 0 (pid {first}) exited with status -9; restarting it")
    assert wait_until(lambda: worker_pids(server)[0] != first)
    assert all(alive(pid) for pid in worker_pids(server).values())
    assert quote_once(server.address) == "6"
    assert server.terminate() == 0


def test_workers_stop_by_themselves_when_the_supervisor_is_killed(
    launch: Launch, seeded_db: Path
) -> None:
    server = start(launch, seeded_db)
    pids = list(worker_pids(server).values())
    server.kill()
    assert wait_until(lambda: not any(alive(pid) for pid in pids))


def test_a_taken_port_or_a_bad_worker_count_is_refused(launch: Launch, seeded_db: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = launch(
            "--db", str(seeded_db), "serve", "--listen", f"127.0.0.1:{port}", "--workers", "2"
        )
        assert server.wait_exit() == 1
        assert "cannot listen on" in server.stderr
    for count in ("0", "33"):
        server = launch("--db", str(seeded_db), "serve", "--workers", count)
        assert server.wait_exit() == 2
        assert f"RATING_WORKERS (--workers) must be 1 to 32, not {count}" in server.stderr


@pytest.mark.parametrize("workers", ["1", "2"])
def test_two_sigterms_in_a_row_still_stop_the_server(
    launch: Launch, seeded_db: Path, workers: str
) -> None:
    server = launch(
        "--db", str(seeded_db), "serve", "--listen", "127.0.0.1:0", "--workers", workers
    )
    server.wait_started()
    server.process.send_signal(signal.SIGTERM)
    server.process.send_signal(signal.SIGTERM)
    assert server.wait_exit() == 0
    assert "rating-server stopped" in server.stderr


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_second_server_on_a_supervised_servers_port_is_refused_and_charges_nothing(
    launch: Launch, seeded_db: Path, tmp_path: Path, workers: str
) -> None:
    first = start(launch, seeded_db)
    other_db = seeded_database(tmp_path / "other.db")
    second = launch("--db", str(other_db), "serve", "--listen", first.address, "--workers", workers)
    assert second.wait_exit() == 1, second.stderr
    port = first.address.rsplit(":", 1)[1]
    assert f"another rating server holds port {port}" in second.stderr
    assert "listening on" not in second.stderr
    # Every connection still reaches the first server: nothing is committed to the other.
    with RatingClient(first.address) as admin:
        admin.create_account("only-once", plan="basic", pay_as_you_go=True)
    charge_ids = set()
    for _ in range(10):
        with own_connection(first.address) as channel:
            receipt = rating_service_pb2_grpc.RatingServiceStub(channel).CommitCharges(
                rating_service_pb2.CommitChargesRequest(
                    request_id="r-1", items=[item("agent.call", 1, account_id="only-once")]
                ),
                timeout=TIMEOUT,
            )
            charge_ids.add(receipt.charge_id)
    assert len(charge_ids) == 1
    assert first.terminate() == 0


def test_two_workers_start_on_the_port_a_one_process_server_just_left_with_open_connections(
    launch: Launch, seeded_db: Path
) -> None:
    one = launch("--db", str(seeded_db), "serve", "--listen", "127.0.0.1:0")
    address = one.wait_started()["address"]
    channels = [own_connection(address) for _ in range(4)]
    for channel in channels:
        stub = rating_service_pb2_grpc.RatingServiceStub(channel)
        stub.Quote(rating_service_pb2.QuoteRequest(items=[item("agent.call", 1)]), timeout=TIMEOUT)
    # The server closes the clients' connections as it stops: they wait out TIME_WAIT.
    assert one.terminate() == 0
    two = launch("--db", str(seeded_db), "serve", "--listen", address, "--workers", "2")
    assert two.wait_started()["address"] == address, two.stderr
    assert quote_once(address) == "6"
    for channel in channels:
        channel.close()
    assert two.terminate() == 0


def test_a_worker_that_fails_logs_its_traceback_inside_a_json_line_and_exits_1(
    seeded_db: Path,
) -> None:
    # A claim that is none: the worker fails with an error no start-up check expects.
    program = (
        "import multiprocessing, sys\n"
        "from rating_server import workers\n"
        "from rating_server.config import Settings\n"
        "ours, theirs = multiprocessing.Pipe()\n"
        f"settings = Settings(listen='127.0.0.1:0', db_path={str(seeded_db)!r})\n"
        "process = multiprocessing.get_context('spawn').Process(\n"
        "    target=workers._run_worker, args=(settings, 'no claim', 0, theirs)\n"
        ")\n"
        "process.start()\n"
        "process.join()\n"
        "sys.exit(process.exitcode)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        timeout=TIMEOUT * 2,
        check=False,
    )

    assert done.returncode == 1, done.stderr
    [line] = [json.loads(line) for line in done.stderr.splitlines()]  # nothing beside it
    assert (line["level"], line["message"]) == ("ERROR", "worker 0 failed")
    assert line["exception"].startswith("Traceback (most recent call last):\n")
    assert line["exception"].endswith("AttributeError: 'str' object has no attribute 'addresses'")
