"""With tracing off, no opentelemetry module is loaded: a server process where those
packages cannot be imported, as if not installed, serves all the same."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

# A server process in which no opentelemetry module can be imported, as where the
# packages are not installed: tracing off, it serves a Quote and loads none; on, it
# refuses to start and says what to install.
WITHOUT_OPENTELEMETRY = textwrap.dedent(
    """
    import sys
    from importlib.abc import MetaPathFinder

    class NotInstalled(MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "opentelemetry":
                raise ModuleNotFoundError(f"No module named {name!r}")
            return None

    sys.meta_path.insert(0, NotInstalled())
    sys.path.insert(0, "tests")

    from support import item
    from rating.v1 import rating_service_pb2
    from rating import RatingClient
    from rating_server.config import Settings
    from rating_server.server import StartupError, create_server

    database = sys.argv[1]
    server = create_server(Settings(listen="127.0.0.1:0", db_path=database))
    server.start()
    with RatingClient(server.address) as client:
        quote = client.quote([item("agent.call", 3)])
    server.stop(grace=0)
    print("quoted", quote.total_points)
    print("loaded", sorted(m for m in sys.modules if m.startswith("opentelemetry")))
    try:
        create_server(Settings(listen="127.0.0.1:0", db_path=database, tracing="otlp"))
    except StartupError as error:
        print("refused:", error)
    """
)


def test_with_tracing_off_the_server_runs_without_the_opentelemetry_packages(
    seeded_db: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_OPENTELEMETRY, str(seeded_db)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=Path(__file__).parents[2],
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "quoted 6"
    assert lines[1] == "loaded []"
    assert lines[2].startswith("refused: RATING_TRACING=otlp needs the OpenTelemetry packages")
    assert "pip install 'rating-server[tracing]'" in lines[2]
