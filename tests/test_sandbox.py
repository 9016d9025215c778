"""`connector sandbox` (issue 12, item 12): the stand-ins on loopback and a ready configuration,
so a newcomer can watch the real Foxdeli or parcelLab path — mapping, auth, parcels, retries."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from connector.app import create_app
from connector.cli import main
from connector.config import load_settings
from connector.sandbox.stack import SandboxError, describe, start_sandbox
from connector.store.db import close_thread_dbs, connect
from connector.worker.loop import Worker
from tests.conftest import webhook_headers
from tests.processes import ROOT, connector_env, start_connector, stop, wait_for, wait_http


class SandboxProcess:
    """`connector sandbox` as a user starts it, its output collected line by line."""

    def __init__(self, config: Path, *args: str) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "connector.cli", "sandbox", "--config", str(config), *args],
            env=connector_env(), cwd=config.parent.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def saw(self, text: str) -> bool:
        return any(text in line for line in list(self.lines))

    def interrupt(self) -> int:
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(20)
        self._reader.join(5)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return code


@pytest.fixture
def sandbox_dir(tmp_path: Path) -> Path:
    return tmp_path / "sandbox"


def simulate(config: Path, sample: Path) -> str:
    result = CliRunner().invoke(main, ["simulate", "--config", str(config), str(sample)])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.slow
@pytest.mark.parametrize("platform, order_line, part_line, held", [
    ("foxdeli", "foxdeli   POST /tracking/api/v1/order → 201", "/parcel → 201", "1 order(s), 1 parcel(s)"),
    ("parcellab", "parcellab PUT /v4/track/orders/ → 201", "parcellab PUT /v4/track/orders/ → 200", "1 order(s), 1 tracking(s)"),
])
def test_a_newcomer_watches_an_order_and_its_parcel_reach_the_platform(
    sandbox_dir: Path, platform: str, order_line: str, part_line: str, held: str,
) -> None:
    config = sandbox_dir / "config.toml"
    box = SandboxProcess(config, "--target", platform)
    runner = None
    try:
        assert wait_for(lambda: box.saw("Ctrl-C stops the sandbox"), timeout=30), box.lines
        assert box.saw(f"connector run --config {config}")  # says what to type next
        settings = load_settings(config, env={})
        assert settings["target.kind"] == platform and settings["target.base_url"].startswith("http://127.0.0.1:")
        runner = start_connector(["run", "--config", str(config)], connector_env(), sandbox_dir, sandbox_dir / "run.log")
        wait_http(f"http://{settings['server.bind']}/healthz", timeout=30)
        assert "topic=orders/create" in simulate(config, sandbox_dir / "order.json")
        assert wait_for(lambda: box.saw(order_line), timeout=30), box.lines
        assert "topic=fulfillments/create" in simulate(config, sandbox_dir / "fulfillment.json")
        assert wait_for(lambda: box.saw(part_line), timeout=30), box.lines  # parcels / trackings
        if platform == "foxdeli":
            assert box.saw("foxdeli   POST /customer/api/v1/token/authorize → 200")  # the auth, for real
    finally:
        if runner is not None:
            assert stop(runner) == 0
        code = box.interrupt()
    assert code == 0
    assert any(held in line and "0 invalid request(s)" in line for line in box.lines), box.lines


def test_retries_are_there_to_watch(sandbox_dir: Path) -> None:
    """--flaky: the platform answers some requests 503 with Retry-After; the order still arrives."""
    seen: list[str] = []
    box = start_sandbox(sandbox_dir / "config.toml", "parcellab", orders=0, flaky=0.5,
                        observe=lambda name, request, response: seen.append(describe(name, request, response)))
    assert random.Random(1).random() < 0.5
    box.parcellab._random = random.Random(1)  # so the first answer is a 503, every run
    try:
        settings = load_settings(box.config_path, env={})
        settings = type(settings)({**settings.values, "retry.first_delay_s": 0.01, "retry.max_delay_s": 0.05,
                                   "worker.metrics_port": 0}, settings.shops, settings.source)
        client = create_app(settings=settings).test_client()
        body = box.files["order"].read_bytes()
        headers = webhook_headers(body, shop="demo-shop.myshopify.com", secret=settings["shopify.api_secret"])
        assert client.post("/webhooks/shopify", data=body, headers=headers).status_code == 200
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not box.parcellab.orders:
            Worker(settings).run(once=True)
            time.sleep(0.05)
        assert len(box.parcellab.orders) == 1
        assert any("parcellab PUT /v4/track/orders/ → 503" in line for line in seen), seen
        assert any("parcellab PUT /v4/track/orders/ → 201" in line for line in seen), seen
        db = connect(settings["database.path"])
        outcomes = [row[0] for row in db.execute("SELECT outcome FROM attempts ORDER BY id").fetchall()]
        db.close()
        assert "transient" in outcomes and outcomes[-1] == "delivered", outcomes
        assert box.parcellab.invalid_requests == []
    finally:
        box.stop()
        close_thread_dbs()


def test_the_sandbox_starts_afresh_and_never_overwrites_someone_elses_file(sandbox_dir: Path) -> None:
    first = start_sandbox(sandbox_dir / "config.toml", "foxdeli", orders=1)
    first.stop()
    (sandbox_dir / "connector.db").write_bytes(b"")  # the last sandbox's database
    again = start_sandbox(sandbox_dir / "config.toml", "foxdeli", orders=1)
    url = again.foxdeli.url
    again.stop()
    assert not (sandbox_dir / "connector.db").exists()  # the stand-ins start empty: so does the store
    assert f'base_url = "{url}"' in (sandbox_dir / "config.toml").read_text()
    mine = sandbox_dir / "mine.toml"
    mine.write_text('[target]\nkind = "foxdeli"\n')
    with pytest.raises(SandboxError, match="was not written by `connector sandbox`"):
        start_sandbox(mine, "foxdeli")
    assert mine.read_text() == '[target]\nkind = "foxdeli"\n'


def test_the_stand_ins_ship_with_the_package() -> None:
    """The sandbox runs from an installed package: no import of the tests (and, as everywhere,
    no path of a machine: tests/test_standalone.py)."""
    package = ROOT / "connector" / "sandbox"
    for path in package.glob("*.py"):
        text = path.read_text()
        assert "from tests" not in text and "import tests" not in text, path
    assert os.path.exists(ROOT / "connector" / "data" / "sample_fulfillment.json")
