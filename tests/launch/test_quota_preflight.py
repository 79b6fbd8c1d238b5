"""The quota preflight (DESIGN §13): `spawn-tf preflight`, the warning of `plan` and the error of `launch`.

moto has no EC2 Service Quotas: their answers come from botocore's Stubber on real boto3 clients (the
Stubber checks each request and answer against botocore's own service model). The vCPUs of each
instance type come from moto server's `describe-instance-types`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from click.testing import CliRunner, Result
from imds import ACCESS_KEY_ID, SECRET_ACCESS_KEY
from offline_build import write_stand_in
from sandbox import Aws

from spawn_tf.cli import main
from spawn_tf.quota import QUOTAS, Market, RunDemand, SweepDemand
from spawn_tf.quota_aws import Clients, preflight, read_vcpus

NAMES = {quota.code: quota.name for quota in QUOTAS}
REQUEST = "aws service-quotas request-service-quota-increase --service-code ec2 --quota-code {} --desired-value {} --region {}"
G_SPOT = "L-3819A6DF"


@dataclass
class Answers:
    """boto3 clients for the preflight: EC2 on moto server, Service Quotas under a Stubber per region and quota.

    The preflight reads its quotas on threads, in no fixed order, and a Stubber answers in the order its
    answers were given: so each quota has its own client and Stubber, and a region's client routes by code.
    """

    aws: Aws
    session: Any = None
    stubs: dict[tuple[str, str], tuple[Any, Stubber]] = field(default_factory=dict)
    describe_calls: list[list[str]] = field(default_factory=list)  # the InstanceTypes of each DescribeInstanceTypes

    def __post_init__(self) -> None:
        self.session = boto3.session.Session(aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET_ACCESS_KEY)

    def make(self, service: str, region: str) -> Any:
        if service == "ec2":
            ec2 = self.session.client("ec2", region_name=region, endpoint_url=self.aws.endpoint)
            ec2.meta.events.register("provide-client-params.ec2.DescribeInstanceTypes", self._record)
            return ec2
        assert service == "service-quotas"
        return QuotasByCode(self, region)

    def _record(self, params: dict[str, Any], **_: Any) -> None:
        self.describe_calls.append(list(params["InstanceTypes"]))

    def stub(self, region: str, code: str) -> tuple[Any, Stubber]:
        if (region, code) not in self.stubs:
            client = self.session.client("service-quotas", region_name=region)
            self.stubs[region, code] = (client, Stubber(client))
            self.stubs[region, code][1].activate()
        return self.stubs[region, code]

    def quota(self, region: str, code: str, value: float, *, default: bool = False) -> None:
        """The next answer for `code` in `region`: its applied value (or, with `default`, only its default one)."""
        stub = self.stub(region, code)[1]
        params = {"ServiceCode": "ec2", "QuotaCode": code}
        answer = {"Quota": {"ServiceCode": "ec2", "QuotaCode": code, "QuotaName": NAMES[code], "Value": value}}
        if default:
            stub.add_client_error("get_service_quota", "NoSuchResourceException", "no applied value", expected_params=params)
            stub.add_response("get_aws_default_service_quota", answer, params)
        else:
            stub.add_response("get_service_quota", answer, params)

    def denied(self, region: str, code: str) -> None:
        self.stub(region, code)[1].add_client_error("get_service_quota", "AccessDeniedException", "not allowed to read quotas",
                                                    expected_params={"ServiceCode": "ec2", "QuotaCode": code})  # fmt: skip

    def all_asked(self) -> None:
        for _, stub in self.stubs.values():
            stub.assert_no_pending_responses()


@dataclass(frozen=True)
class QuotasByCode:
    """A region's Service Quotas client as the preflight uses it: each call goes to its quota's stubbed client."""

    answers: Answers
    region: str

    def get_service_quota(self, **params: str) -> Any:
        return self.answers.stub(self.region, params["QuotaCode"])[0].get_service_quota(**params)

    def get_aws_default_service_quota(self, **params: str) -> Any:
        return self.answers.stub(self.region, params["QuotaCode"])[0].get_aws_default_service_quota(**params)


@pytest.fixture
def answers(aws: Aws) -> Iterator[Answers]:
    given = Answers(aws)
    yield given
    given.all_asked()


def sweep(folder: Path, rows: str = "", *, runs: int = 100, defaults: str = "", top: str = "", name: str = "gpu") -> Path:
    """A sweep of `runs` g5.xlarge spot runs in us-east-1 (a grid), unless `rows` lists its runs."""
    body = rows or "grid:\n  lr: [" + ", ".join(str(i) for i in range(runs)) + "]\n"
    text = (f"sweep: {name}\nresults: s3://spawn-quota-test/sweeps\n{top}defaults:\n  instance_type: g5.xlarge\n  ami: dlami-gpu\n"
            f"  region: us-east-1\n  ttl: 1h\n  command: ./train.sh\n{defaults}{body}")  # fmt: skip
    path = folder / f"{name}.yaml"
    path.write_text(text)
    return path


def run(answers: Answers, *args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(arg) for arg in args], obj=Clients(answers.make), catch_exceptions=False)


def below(region: str, code: str, needed: int, value: int, what: str) -> list[str]:
    return [f"{region}: {what}: {needed} vCPUs needed, quota {value} ({code}, {NAMES[code]}): below need",
            "  " + REQUEST.format(code, needed, region)]  # fmt: skip


def enough(region: str, code: str, needed: int, value: int, what: str) -> str:
    return f"{region}: {what}: {needed} vCPUs needed, quota {value} ({code}, {NAMES[code]}): enough"


SUMMARY_BELOW = "spawn-tf: 1 vCPU quota below need; ask AWS for more with the commands above (an answer can take hours), or lower max_concurrent\n"


# --- spawn-tf preflight ------------------------------------------------------------------------


def test_a_100_run_g5_sweep_against_a_g_spot_quota_of_0_is_an_error_with_the_code_and_the_request(answers: Answers, tmp_path: Path) -> None:
    answers.quota("us-east-1", G_SPOT, 0.0)
    result = run(answers, "preflight", sweep(tmp_path))
    assert result.exit_code == 1
    assert result.stdout.splitlines() == below("us-east-1", G_SPOT, 400, 0, "G and VT spot")
    assert result.stderr == SUMMARY_BELOW
    assert answers.describe_calls == [["g5.xlarge"]]  # one call for 100 runs


def test_with_enough_quota_nothing_is_wrong(answers: Answers, tmp_path: Path) -> None:
    answers.quota("us-east-1", G_SPOT, 400.0)
    result = run(answers, "preflight", sweep(tmp_path))
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout.splitlines() == [enough("us-east-1", G_SPOT, 400, 400, "G and VT spot")]


def test_max_concurrent_lowers_the_peak(answers: Answers, tmp_path: Path) -> None:
    answers.quota("us-east-1", G_SPOT, 40.0)
    result = run(answers, "preflight", sweep(tmp_path, top="max_concurrent: 10\n"))
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout.splitlines() == [enough("us-east-1", G_SPOT, 40, 40, "G and VT spot")]  # 10 runs of 4 vCPUs, not 100


def test_two_regions_are_each_read_in_their_own_region(answers: Answers, tmp_path: Path) -> None:
    rows = "params:\n" + "".join(f"  - {{name: e{i}, region: eu-west-1}}\n" for i in range(3)) + "  - {name: u0}\n"
    answers.quota("eu-west-1", G_SPOT, 8.0)
    answers.quota("us-east-1", G_SPOT, 4.0)
    result = run(answers, "preflight", sweep(tmp_path, rows))
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [*below("eu-west-1", G_SPOT, 12, 8, "G and VT spot"),
                                          enough("us-east-1", G_SPOT, 4, 4, "G and VT spot")]  # fmt: skip
    assert sorted(answers.describe_calls) == [["g5.xlarge"], ["g5.xlarge"]]


def test_a_mix_of_classes_and_markets_is_checked_quota_by_quota(answers: Answers, tmp_path: Path) -> None:
    rows = ("params:\n  - {name: cpu, instance_type: c7i.2xlarge, spot: false, ami: al2023}\n  - {name: gpu}\n"
            "  - {name: big, instance_type: p5.48xlarge}\n  - {name: od, spot: false}\n")  # fmt: skip
    for code, value in (("L-3819A6DF", 4.0), ("L-C4BD4855", 0.0), ("L-1216C47A", 5.0), ("L-DB2E81BA", 64.0)):
        answers.quota("us-east-1", code, value)
    result = run(answers, "preflight", sweep(tmp_path, rows))
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        enough("us-east-1", "L-3819A6DF", 4, 4, "G and VT spot"),
        *below("us-east-1", "L-C4BD4855", 192, 0, "P5 spot"),
        *below("us-east-1", "L-1216C47A", 8, 5, "Standard on-demand"),
        enough("us-east-1", "L-DB2E81BA", 4, 64, "G and VT on-demand"),
    ]
    assert answers.describe_calls == [["c7i.2xlarge", "g5.xlarge", "p5.48xlarge"]]


def test_an_unreadable_quota_is_exit_3_naming_it(answers: Answers, tmp_path: Path) -> None:
    answers.denied("us-east-1", G_SPOT)
    result = run(answers, "preflight", sweep(tmp_path))
    line = (f"us-east-1: G and VT spot: 400 vCPUs needed, quota not read ({G_SPOT}, {NAMES[G_SPOT]}): "
            "AccessDeniedException: not allowed to read quotas")  # fmt: skip
    assert result.exit_code == 3
    assert result.stdout.splitlines() == [line]
    assert result.stderr == f"spawn-tf: 1 quota not read: {line}\n"


def test_a_quota_without_an_applied_value_is_its_default(answers: Answers, tmp_path: Path) -> None:
    answers.quota("us-east-1", G_SPOT, 0.0, default=True)
    result = run(answers, "preflight", sweep(tmp_path))
    assert result.exit_code == 1
    assert result.stdout.splitlines() == below("us-east-1", G_SPOT, 400, 0, "G and VT spot")


def test_a_family_without_a_quota_class_is_said_not_checked(answers: Answers, tmp_path: Path) -> None:
    rows = "params:\n  - {name: h, instance_type: hpc7g.4xlarge, spot: false, ami: al2023}\n"
    result = run(answers, "preflight", sweep(tmp_path, rows))
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout.splitlines() == ["us-east-1: hpc7g.4xlarge on-demand: no vCPU quota is known for its family: not checked"]


def test_json_and_a_build_folder_give_the_same_findings(answers: Answers, tmp_path: Path) -> None:
    file = sweep(tmp_path)
    assert run(answers, "compile", file, "-o", tmp_path / "build").exit_code == 0
    answers.quota("us-east-1", G_SPOT, 0.0)
    answers.quota("us-east-1", G_SPOT, 0.0)
    from_file, from_build = run(answers, "preflight", "--json", file), run(answers, "preflight", "--json", tmp_path / "build" / "gpu")
    assert from_file.exit_code == from_build.exit_code == 1
    assert json.loads(from_file.stdout) == json.loads(from_build.stdout) == {
        "quotas": [{"region": "us-east-1", "class": "G and VT", "market": "spot", "quota_code": G_SPOT, "quota_name": NAMES[G_SPOT],
                    "needed_vcpus": 400, "quota": 0, "below": True, "request": REQUEST.format(G_SPOT, 400, "us-east-1")}],
        "not_read": [], "not_checked": [],
    }  # fmt: skip


def test_vcpus_are_read_100_types_a_call(answers: Answers) -> None:
    from moto.ec2.models.instance_types import INSTANCE_TYPES

    types = sorted(INSTANCE_TYPES)[:150]
    found = read_vcpus(Clients(answers.make), "us-east-1", types)
    assert [len(call) for call in answers.describe_calls] == [100, 50]
    assert found == {name: INSTANCE_TYPES[name]["VCpuInfo"]["DefaultVCpus"] for name in types}


def test_a_region_whose_vcpus_cannot_be_read_is_named(answers: Answers) -> None:
    demand = SweepDemand(sweep="s", max_concurrent=None, runs=(RunDemand(region="us-east-1", market=Market.SPOT, instance_types=("zz9.large",)),))
    found = preflight([demand], Clients(answers.make))
    assert found.findings == ()
    assert found.unread == ("us-east-1: vCPUs of its instance types not read: InvalidInstanceType: "
                            "The following supplied instance types do not exist: [zz9.large]",)  # fmt: skip


# --- plan and launch ---------------------------------------------------------------------------


@pytest.fixture
def stand_in(launch_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_stand_in(Path(launch_env["bin"]) / "terraform")
    calls = tmp_path / "calls.jsonl"
    monkeypatch.setenv("STAND_IN_LOG", str(calls))
    return calls


def _commands(log: Path) -> list[str]:
    return [json.loads(line)[1] for line in log.read_text().splitlines()] if log.exists() else []


def test_launch_below_quota_is_an_error_before_any_terraform(answers: Answers, stand_in: Path, tmp_path: Path) -> None:
    answers.quota("us-east-1", G_SPOT, 0.0)
    result = run(answers, "launch", sweep(tmp_path), "-o", tmp_path / "build", "--auto-approve")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-4:] == [
        *below("us-east-1", G_SPOT, 400, 0, "G and VT spot"),
        "spawn-tf: error: nothing launched: 1 vCPU quota below what the sweep can run at once",
        "  hint: ask AWS for more with the commands above (an answer can take hours), or lower max_concurrent; "
        "--ignore-quota launches anyway (instances beyond the quota fail)",
    ]
    assert _commands(stand_in) == []  # not even `terraform version`


def test_launch_with_ignore_quota_reads_no_quota_and_applies(answers: Answers, stand_in: Path, tmp_path: Path) -> None:
    result = run(answers, "launch", sweep(tmp_path, runs=2), "-o", tmp_path / "build", "--auto-approve", "--ignore-quota")
    assert result.exit_code == 0, result.stderr
    assert _commands(stand_in) == ["-json", "init", "plan", "show", "apply"]
    assert answers.describe_calls == [] and "vCPU" not in result.stderr


def test_launch_with_enough_quota_says_nothing_of_quotas_and_applies(answers: Answers, stand_in: Path, tmp_path: Path) -> None:
    answers.quota("us-east-1", G_SPOT, 8.0)
    result = run(answers, "launch", sweep(tmp_path, runs=2), "-o", tmp_path / "build", "--auto-approve")
    assert result.exit_code == 0, result.stderr
    assert "vCPU" not in result.stderr
    assert _commands(stand_in) == ["-json", "init", "plan", "show", "apply"]


def test_plan_below_quota_warns_and_plans(answers: Answers, stand_in: Path, tmp_path: Path) -> None:
    answers.quota("us-east-1", G_SPOT, 4.0)
    result = run(answers, "plan", sweep(tmp_path, runs=2), "-o", tmp_path / "build")
    assert result.exit_code == 0, result.stderr
    warning = ("spawn-tf: warning: us-east-1: G and VT spot: 8 vCPUs needed, quota 4 (L-3819A6DF, All G and VT Spot Instance Requests): "
               f"below need\n  to raise it: {REQUEST.format(G_SPOT, 8, 'us-east-1')}")  # fmt: skip
    assert warning in result.stderr
    assert _commands(stand_in) == ["-json", "init", "plan", "show"]


def test_launch_whose_quota_cannot_be_read_warns_and_goes_on(answers: Answers, stand_in: Path, tmp_path: Path) -> None:
    answers.denied("us-east-1", G_SPOT)
    result = run(answers, "launch", sweep(tmp_path, runs=2), "-o", tmp_path / "build", "--auto-approve")
    assert result.exit_code == 0, result.stderr
    assert ("spawn-tf: warning: quota not checked: us-east-1: G and VT spot: 8 vCPUs needed, quota not read "
            f"({G_SPOT}, {NAMES[G_SPOT]}): AccessDeniedException: not allowed to read quotas") in result.stderr  # fmt: skip
    assert _commands(stand_in)[-1] == "apply"
