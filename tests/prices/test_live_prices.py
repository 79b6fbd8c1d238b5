"""Live prices against moto server: the plumbing of spot price history and the Price List API.

moto implements DescribeSpotPriceHistory with placeholder data (one fixed price for every type and
zone it offers), so these tests check what is asked and how answers flow, never the numbers. moto
has no Price List API (pricing:GetProducts answers HTTP 500): the on-demand side is tested for
failing cleanly, and its parsing on a product document in tests/unit/test_prices.py.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

from spawn_tf.prices import aws_clients, fetch_prices, parse_price_file, render_price_file

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
SWEEP = """\
defaults:
  instance_type: m7i.large
  ttl: 2h
  user_data: ./train.sh
params:
  - {name: a, region: us-east-1}
  - {name: b, region: eu-west-1}
  - {name: c, region: eu-west-1, instance_type: c7i.large}
"""


def test_fetch_prices_spot_from_moto_on_demand_unavailable(aws_env: str) -> None:
    pairs = {("us-east-1", "m7i.large"), ("eu-west-1", "m7i.large"), ("eu-west-1", "c7i.large")}
    table = fetch_prices(pairs, aws_clients(), NOW)
    assert set(table.prices) == pairs
    for price in table.prices.values():
        assert isinstance(price.spot_usd, Decimal) and price.spot_usd > 0  # moto's placeholder; the value is not checked
        assert price.on_demand_usd is None and price.date == "2026-11-29"
    assert len(table.notes) == 1 and table.notes[0].startswith("on-demand prices unknown: the Price List API failed")
    assert table.source == "AWS Price List API and EC2 spot price history, 2026-11-29"


def test_fetch_prices_type_without_offering_is_left_out(aws_env: str) -> None:
    table = fetch_prices({("us-east-1", "m7i.large"), ("us-east-1", "x9z.huge")}, aws_clients(), NOW)
    assert set(table.prices) == {("us-east-1", "m7i.large")}  # nothing guessed for a type AWS has no history for


def test_saved_live_prices_are_a_valid_price_file(aws_env: str) -> None:
    table = fetch_prices({("eu-west-1", "m7i.large")}, aws_clients(), NOW)
    again, diagnostics = parse_price_file(render_price_file(table), "saved.csv")
    assert diagnostics == () and again is not None and dict(again.prices) == dict(table.prices)


def _spawn_tf(*args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in its own process (moto server, a thread of this one, prints to this process's stdout)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-c", "from spawn_tf.cli import main; main()", *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)


def test_cli_cost_live_saves_prices_that_compile_uses(aws_env: str, tmp_path: Path) -> None:
    sweep = tmp_path / "lr.yaml"
    # Without on-demand prices (moto has no Price List API) only a spot cap bounds a spot hour.
    sweep.write_text("budget: {max_usd: 100, prices: prices.csv}\n" + SWEEP.replace("  ttl: 2h\n", "  ttl: 2h\n  spot_max_price: '0.50'\n"))
    result = _spawn_tf("cost", str(sweep), "--live", "--save-prices", str(tmp_path / "prices.csv"), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["complete"] and report["within_budget"]
    assert [(line["region"], line["instance_type"]) for line in report["lines"]] == [
        ("eu-west-1", "c7i.large"), ("eu-west-1", "m7i.large"), ("us-east-1", "m7i.large"),
    ]  # fmt: skip
    assert report["spot_saving"] is None  # no on-demand prices from moto: no saving claimed
    assert report["worst_case_usd"] == "3.00" and report["expected_usd"] is not None  # 3 runs x 2 h x the 0.50 cap
    assert any("Price List API failed" in note for note in report["notes"])
    compiled = _spawn_tf("compile", str(sweep), "-o", str(tmp_path / "build"))
    assert compiled.returncode == 0, compiled.stderr
    on_demand = tmp_path / "od.yaml"
    on_demand.write_text("budget: {max_usd: 100}\n" + SWEEP.replace("  ttl: 2h\n", "  ttl: 2h\n  spot: false\n"))
    result = _spawn_tf("cost", str(on_demand), "--live")
    assert result.returncode == 1  # on-demand runs stay unpriced without the Price List API, and a budget needs every price
    assert "error: no on-demand price for m7i.large in eu-west-1" in result.stderr


def test_cli_diff_live_prices_both_sides_with_one_table(aws_env: str, tmp_path: Path) -> None:
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text("sweep: lr\n" + SWEEP)
    new.write_text("sweep: lr\n" + SWEEP + "  - {name: d, region: us-east-1}\n")
    result = _spawn_tf("diff", str(old), str(new), "--live", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [run["name"] for run in report["added"]] == ["d"]
    cost = report["cost"]
    assert cost["old"]["source"] == cost["new"]["source"]  # one price table for both sides: the delta is the change's
    line = {(item["region"], item["instance_type"]): item for item in cost["new"]["lines"]}[("us-east-1", "m7i.large")]
    old_line = {(item["region"], item["instance_type"]): item for item in cost["old"]["lines"]}[("us-east-1", "m7i.large")]
    assert (old_line["runs"], old_line["hours"], line["runs"], line["hours"]) == (1, "2.00", 2, "4.00")
    known = {side: Decimal(cost[side]["priced_usd"] or 0) for side in ("old", "new")}  # null: no run both priced and bounded
    assert Decimal(cost["delta_usd"]) == known["new"] - known["old"]


def test_cli_cost_live_without_credentials_or_network_is_an_error(aws_env: str, tmp_path: Path, monkeypatch) -> None:
    sweep = tmp_path / "lr.yaml"
    sweep.write_text(SWEEP)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    result = _spawn_tf("cost", str(sweep), "--live")
    assert (result.returncode, result.stdout) == (1, ""), result.stderr
    assert result.stderr == ("spawn-tf: error: --live needs AWS credentials, and there are none\n"
                             "  hint: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or give a price file with --prices\n")  # fmt: skip

    # Fake keys and nothing listening (a closed port on 127.0.0.1), with the default retries: at once, naming the endpoint.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_MAX_ATTEMPTS")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", closed)
    started = time.monotonic()
    result = _spawn_tf("cost", str(sweep), "--live")
    assert time.monotonic() - started < 10
    assert (result.returncode, result.stdout) == (1, ""), result.stderr
    assert result.stderr.startswith("spawn-tf: error: --live read no price from AWS:\n  on-demand prices unknown: the Price List API failed: ")
    assert f'Could not connect to the endpoint URL: "{closed}/' in result.stderr
