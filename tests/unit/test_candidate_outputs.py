"""What a run's capacity candidates change outside the settings (DESIGN §13): the manifests' `candidates` records and
sweep.json's capacity_retry_after, `expand`, the worst-case cost over every candidate, and the quota demand per market."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path, PurePosixPath

from click.testing import CliRunner
from sweep_helpers import WriteSweep

from spawn_tf import contract, manifest
from spawn_tf.cli import main
from spawn_tf.cli_quota import build_demand, runs_demand
from spawn_tf.contract import Market
from spawn_tf.cost import estimate_cost
from spawn_tf.pipeline import check_file, compile_file
from spawn_tf.prices import parse_price_file
from spawn_tf.quota import RunDemand

SWEEP = """\
sweep: cap
results: s3://spawn-bucket/sweeps
capacity_retry_after: 45m
defaults:
  region: us-east-1
  ttl: 2h
  ami: dlami-gpu
  command: ./train.sh
params:
  - {name: plain, instance_type: g5.xlarge}
  - {name: failover, instance_type: 'g5.xlarge|g6.xlarge', spot: auto}
  - {name: zoned, instance_type: g5.xlarge, zones: [us-east-1b, us-east-1a]}
  - {name: subnets, instance_type: g5.xlarge, spot: false, subnet_id: [subnet-0000000a, subnet-0000000b]}
  - {name: one-subnet, instance_type: g5.xlarge, subnet_id: subnet-0000000a}
"""
FAILOVER = {"instance_types": ["g5.xlarge", "g6.xlarge"], "markets": ["spot", "on-demand"], "zones": [], "subnets": []}
ZONED = {"instance_types": ["g5.xlarge"], "markets": ["spot"], "zones": ["us-east-1b", "us-east-1a"], "subnets": []}
SUBNETS = {"instance_types": ["g5.xlarge"], "markets": ["on-demand"], "zones": [], "subnets": ["subnet-0000000a", "subnet-0000000b"]}
# one subnet is no alternative, but without it the collector would count a candidate in every zone
ONE_SUBNET = {"instance_types": ["g5.xlarge"], "markets": ["spot"], "zones": [], "subnets": ["subnet-0000000a"]}


def _compiled(write_sweep: WriteSweep, text: str = SWEEP) -> dict[PurePosixPath, bytes]:
    checked, files = compile_file(write_sweep(text))
    assert files is not None, [d.render() for d in checked.diagnostics]
    return files


def test_manifests_record_candidates_only_for_runs_with_an_alternative_or_a_subnet(write_sweep: WriteSweep) -> None:
    files = _compiled(write_sweep)
    sweep = json.loads(files[PurePosixPath(contract.MANIFEST_FILE)])
    assert sweep["capacity_retry_after"] == 45 * 60
    recorded = {run["name"]: run.get("candidates") for run in sweep["runs"]}
    assert recorded == {"plain": None, "failover": FAILOVER, "zoned": ZONED, "subnets": SUBNETS, "one-subnet": ONE_SUBNET}
    [root] = [json.loads(content) for path, content in files.items() if path.name == contract.ROOT_MANIFEST_FILE]
    assert {run["name"]: run.get("candidates") for run in root["runs"]} == recorded


def test_a_sweep_without_the_key_records_the_default_retry_time(write_sweep: WriteSweep) -> None:
    files = _compiled(write_sweep, SWEEP.replace("capacity_retry_after: 45m\n", ""))
    assert json.loads(files[PurePosixPath(contract.MANIFEST_FILE)])["capacity_retry_after"] == contract.DEFAULT_CAPACITY_RETRY_AFTER_SECONDS


def test_run_records_read_back_their_candidates_and_a_missing_record_as_the_one_type_and_market(write_sweep: WriteSweep) -> None:
    runs = {run.name: run for run in manifest.runs(json.loads(_compiled(write_sweep)[PurePosixPath(contract.MANIFEST_FILE)]))}
    failover, zoned, subnets, plain = runs["failover"], runs["zoned"], runs["subnets"], runs["plain"]
    assert (failover.instance_types, failover.markets, failover.zones) == (("g5.xlarge", "g6.xlarge"), (Market.SPOT, Market.ON_DEMAND), ())
    assert (zoned.zones, subnets.subnets, subnets.markets) == (("us-east-1b", "us-east-1a"), ("subnet-0000000a", "subnet-0000000b"), (Market.ON_DEMAND,))
    assert (plain.instance_types, plain.markets, plain.zones, plain.subnets) == (("g5.xlarge",), (Market.SPOT,), (), ())
    assert manifest.runs({"runs": [_record(plain, spot=False)]})[0].markets == (Market.ON_DEMAND,)  # no record: the run's own market


def _record(run: manifest.RunRecord, **changes: object) -> dict[str, object]:
    record = {"name": run.name, "index": run.index, "fingerprint": run.fingerprint, "region": run.region, "root": run.root,
              "instance_type": run.instance_type, "spot": run.spot, "max_attempts": run.max_attempts,
              "max_interruptions": run.max_interruptions, "params": run.params}  # fmt: skip
    return {**record, **changes}


def test_expand_json_shows_candidates_of_runs_with_an_alternative_or_a_subnet(write_sweep: WriteSweep) -> None:
    result = CliRunner().invoke(main, ["expand", str(write_sweep(SWEEP)), "--format", "json"])
    assert result.exit_code == 0, result.output
    records = {record["name"]: record for record in json.loads(result.stdout)}
    assert {name: record.get("candidates") for name, record in records.items()} == {
        "plain": None, "failover": FAILOVER, "zoned": ZONED, "subnets": SUBNETS, "one-subnet": ONE_SUBNET}  # fmt: skip
    assert list(records["failover"])[4:7] == ["instance_type", "arch", "spot"]  # beside the other settings, before the fingerprint


def test_expand_table_has_a_candidates_column_only_when_a_run_has_one(write_sweep: WriteSweep) -> None:
    result = CliRunner().invoke(main, ["expand", str(write_sweep(SWEEP))])
    assert result.exit_code == 0, result.output
    lines = {line.split()[1]: line for line in result.stdout.splitlines()}
    assert lines["NAME"].split()[-1] == "CANDIDATES"
    assert lines["failover"].endswith("g5.xlarge|g6.xlarge, spot then on-demand, in every zone offering the type")
    assert lines["zoned"].endswith("g5.xlarge, spot, in us-east-1b, us-east-1a")
    assert lines["subnets"].endswith("g5.xlarge, on-demand, in subnet-0000000a, subnet-0000000b")
    assert lines["plain"].endswith(" -")
    without = CliRunner().invoke(main, ["expand", str(write_sweep(SWEEP.partition("  - {name: failover")[0], "plain.yaml"))])
    assert "CANDIDATES" not in without.stdout and without.exit_code == 0


# Test values, not AWS prices.
PRICES = """\
region,instance_type,on_demand,spot,date
us-east-1,g5.xlarge,1.006,0.45,2026-11-29
us-east-1,g6.xlarge,0.805,0.30,2026-11-29
us-east-1,g5.2xlarge,1.212,0.50,2026-11-29
"""


def _lines(write_sweep: WriteSweep, rows: str) -> dict[tuple[str, bool], tuple[int, Decimal | None]]:
    table, _ = parse_price_file(PRICES, "prices.csv")
    head = "sweep: c\nresults: s3://spawn-bucket/sweeps\ndefaults:\n  region: us-east-1\n  ttl: 2h\n  ami: dlami-gpu\n  command: ./x\nparams:\n"
    checked = check_file(write_sweep(head + rows))
    assert checked.runs is not None and table is not None, [d.render() for d in checked.diagnostics]
    return {(line.instance_type, line.spot): (line.runs, line.worst_case_usd) for line in estimate_cost(checked.runs, table).lines}


def test_cost_prices_a_run_at_its_worst_candidate(write_sweep: WriteSweep) -> None:
    # spot capped at 0.40: g5.xlarge's spot hour costs at most 0.40; on demand, the larger g5.2xlarge costs 1.212.
    assert _lines(write_sweep, "  - {name: a, instance_type: 'g6.xlarge|g5.xlarge', spot_max_price: '0.40'}\n") == {
        ("g5.xlarge", True): (1, Decimal("0.80"))}  # the cap is the most either can cost: on a tie, the type tried last  # fmt: skip
    assert _lines(write_sweep, "  - {name: a, instance_type: 'g6.xlarge|g5.xlarge', spot: auto, spot_max_price: '0.40'}\n") == {
        ("g5.xlarge", False): (1, Decimal("2.012"))}  # fmt: skip
    assert _lines(write_sweep, "  - {name: a, instance_type: ['g5.2xlarge', g6.xlarge]}\n") == {("g5.2xlarge", True): (1, Decimal("2.424"))}
    assert _lines(write_sweep, "  - {name: a, instance_type: g6.xlarge, spot: auto}\n") == {("g6.xlarge", False): (1, Decimal("1.610"))}
    assert _lines(write_sweep, "  - {name: a, instance_type: g6.xlarge}\n") == {("g6.xlarge", True): (1, Decimal("1.610"))}


def test_a_run_with_an_unpriced_candidate_is_unpriced(write_sweep: WriteSweep) -> None:
    assert _lines(write_sweep, "  - {name: a, instance_type: 'g5.xlarge|g6.2xlarge|g6.4xlarge'}\n") == {("g6.2xlarge", True): (1, None)}


def test_quota_demand_is_one_per_market_with_every_type(write_sweep: WriteSweep, tmp_path: Path) -> None:
    path = write_sweep(SWEEP)
    checked = check_file(path)
    assert checked.runs is not None and checked.sweep is not None
    demand = runs_demand("cap", checked.runs, None)
    g5, both = ("g5.xlarge",), ("g5.xlarge", "g6.xlarge")
    assert [(run.market, run.instance_types) for run in demand.runs] == [
        (Market.SPOT, g5), (Market.SPOT, both), (Market.ON_DEMAND, both), (Market.SPOT, g5), (Market.ON_DEMAND, g5), (Market.SPOT, g5)]  # fmt: skip
    result = CliRunner().invoke(main, ["compile", str(path), "-o", str(tmp_path / "build")])
    assert result.exit_code == 0, result.output
    built = build_demand(tmp_path / "build" / "cap")
    assert built.runs == demand.runs and all(isinstance(run, RunDemand) for run in built.runs)


def test_the_capacity_example_has_the_candidates_its_comment_promises() -> None:
    checked = check_file(Path(__file__).resolve().parents[2] / "examples" / "capacity-failover.yaml")
    assert checked.runs is not None and checked.sweep is not None and not checked.diagnostics
    assert {(run.settings.instance_types, run.settings.markets, run.settings.zones) for run in checked.runs} == {
        (("g5.xlarge", "g6.xlarge"), (Market.SPOT, Market.ON_DEMAND), ())}  # fmt: skip
    assert checked.sweep.capacity_retry_after_seconds == 30 * 60


def test_live_prices_are_asked_for_every_candidate_type(write_sweep: WriteSweep) -> None:
    from spawn_tf.pipeline import price_table
    from spawn_tf.prices import PriceTable

    checked = check_file(write_sweep(SWEEP))
    asked: list[set[tuple[str, str]]] = []

    def fetch(pairs: set[tuple[str, str]]) -> PriceTable:
        asked.append(pairs)
        return PriceTable(source="test", prices={})

    price_table(checked.runs or (), None, fetch)
    assert asked == [{("us-east-1", "g5.xlarge"), ("us-east-1", "g6.xlarge")}]
