"""The agent tests' environment itself, not the agent: moto server, the IMDS stand-in, the sandbox and its stubs."""

from __future__ import annotations

import json
import shutil
import textwrap
import time
import urllib.error
import urllib.request
from typing import TYPE_CHECKING

import pytest
from imds import SPOT_ACTION_PATH, TOKEN_HEADER, TOKEN_PATH, TOKEN_TTL_HEADER, Imds

if TYPE_CHECKING:
    from collections.abc import Callable

    from sandbox import AgentSandbox, Aws

BUCKET = "spawn-test-bucket"
PRECONDITION_FAILED = "An error occurred (PreconditionFailed) when calling the PutObject operation: At least one of the pre-conditions you specified did not hold"


def _http(imds: Imds, method: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(imds.endpoint + path, method=method, headers=headers or {})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1, never a proxy
    try:
        with opener.open(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _script(text: str) -> str:
    return "#!/bin/bash\n" + textwrap.dedent(text).lstrip("\n")


# --- the IMDS stand-in ---------------------------------------------------------------------------


def test_imds_serves_metadata_only_with_a_token(imds: Imds) -> None:
    imds.instance_id, imds.region = "i-0aaaabbbbccccdddd", "eu-west-1"
    assert _http(imds, "GET", "/latest/meta-data/instance-id")[0] == 401  # IMDSv1 refused
    assert _http(imds, "PUT", TOKEN_PATH)[0] == 400  # the TTL header is required
    assert _http(imds, "PUT", TOKEN_PATH, {TOKEN_TTL_HEADER: "0"})[0] == 400
    status, token = _http(imds, "PUT", TOKEN_PATH, {TOKEN_TTL_HEADER: "60"})
    assert status == 200
    assert token
    assert _http(imds, "GET", "/latest/meta-data/instance-id", {TOKEN_HEADER: "forged"})[0] == 401
    with_token = {TOKEN_HEADER: token}
    assert _http(imds, "GET", "/latest/meta-data/instance-id", with_token) == (200, "i-0aaaabbbbccccdddd")
    assert _http(imds, "GET", "/latest/meta-data/placement/region", with_token) == (200, "eu-west-1")
    assert _http(imds, "GET", "/latest/meta-data/instance-life-cycle", with_token) == (200, "spot")
    assert _http(imds, "GET", "/latest/meta-data/no-such-thing", with_token)[0] == 404
    assert [(r.method, r.path, r.token_valid, r.status) for r in imds.requests] == [
        ("GET", "/latest/meta-data/instance-id", False, 401),
        ("PUT", TOKEN_PATH, None, 400),
        ("PUT", TOKEN_PATH, None, 400),
        ("PUT", TOKEN_PATH, None, 200),
        ("GET", "/latest/meta-data/instance-id", False, 401),
        ("GET", "/latest/meta-data/instance-id", True, 200),
        ("GET", "/latest/meta-data/placement/region", True, 200),
        ("GET", "/latest/meta-data/instance-life-cycle", True, 200),
        ("GET", "/latest/meta-data/no-such-thing", True, 404),
    ]


def test_imds_token_expires() -> None:
    with Imds() as imds:
        token = _http(imds, "PUT", TOKEN_PATH, {TOKEN_TTL_HEADER: "1"})[1]
        assert _http(imds, "GET", "/latest/meta-data/instance-id", {TOKEN_HEADER: token})[0] == 200
        time.sleep(1.1)
        assert _http(imds, "GET", "/latest/meta-data/instance-id", {TOKEN_HEADER: token})[0] == 401
    with pytest.raises(RuntimeError, match="not started"):
        _ = imds.endpoint


def test_imds_spot_action_is_404_until_an_interruption(imds: Imds) -> None:
    headers = {TOKEN_HEADER: _http(imds, "PUT", TOKEN_PATH, {TOKEN_TTL_HEADER: "60"})[1]}
    assert _http(imds, "GET", SPOT_ACTION_PATH, headers)[0] == 404
    notice = imds.interrupt(action="terminate")
    status, body = _http(imds, "GET", SPOT_ACTION_PATH, headers)
    assert status == 200
    assert json.loads(body) == notice
    assert notice["action"] == "terminate"
    assert time.strptime(notice["time"], "%Y-%m-%dT%H:%M:%SZ")
    imds.clear_interruption()
    assert _http(imds, "GET", SPOT_ACTION_PATH, headers)[0] == 404


def test_imds_through_curl_from_user_data(agent_sandbox: Callable[..., AgentSandbox], instance: Callable[..., str], imds: Imds) -> None:
    instance_id = instance({"Name": "env/one"})
    sandbox = agent_sandbox()
    imds.interrupt()
    result = sandbox.run(
        _script("""
        set -eu
        token=$(curl -sf -m 2 -X PUT "$SPAWN_IMDS_ENDPOINT/latest/api/token" -H "X-aws-ec2-metadata-token-ttl-seconds: 300")
        get() { curl -sf -m 2 -H "X-aws-ec2-metadata-token: $token" "$SPAWN_IMDS_ENDPOINT/latest/meta-data/$1"; echo; }
        get instance-id; get placement/region; get instance-life-cycle; get spot/instance-action
        """)
    )
    assert result.returncode == 0, result
    lines = result.stdout.splitlines()
    assert lines[:3] == [instance_id, "us-east-1", "spot"]
    assert json.loads(lines[3])["action"] == "terminate"
    assert all(request.token_valid for request in imds.requests if request.method == "GET")


# --- moto through the aws CLI --------------------------------------------------------------------


def test_moto_is_reset_between_tests(aws: Aws) -> None:
    assert aws.s3.list_buckets()["Buckets"] == []
    assert aws.ec2.describe_instances()["Reservations"] == []
    aws.s3.create_bucket(Bucket="left-behind-bucket")  # the next test's reset removes it


def test_instance_factory(aws: Aws, instance: Callable[..., str], imds: Imds, instance_tags: Callable[[str], dict[str, str]]) -> None:
    spot = instance({"spawn:run": "one", "team": "ml"})
    assert imds.instance_id == spot
    assert imds.life_cycle == "spot"
    assert instance_tags(spot) == {"spawn:run": "one", "team": "ml"}
    described = aws.ec2.describe_instances(InstanceIds=[spot])["Reservations"][0]["Instances"][0]
    assert described["InstanceLifecycle"] == "spot"
    volumes = aws.ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [spot]}])["Volumes"]
    assert [{t["Key"]: t["Value"] for t in volume["Tags"]} for volume in volumes] == [{"spawn:run": "one", "team": "ml"}]
    on_demand = instance(spot=False)
    assert (imds.instance_id, imds.life_cycle) == (on_demand, "on-demand")
    assert aws.instance_state(on_demand) in ("pending", "running")
    assert [bucket["Name"] for bucket in aws.s3.list_buckets()["Buckets"]] == [BUCKET]


def test_aws_cli_reaches_moto_through_aws_endpoint_url(
    agent_sandbox: Callable[..., AgentSandbox], results_bucket: str, s3_tree: Callable[..., dict[str, bytes]]
) -> None:
    sandbox = agent_sandbox()
    result = sandbox.run(
        _script(f"""
        set -eu
        export AWS_DEFAULT_REGION=us-east-1 AWS_PAGER=""
        printf 'hello' > "$TMPDIR/body"
        aws s3api put-object --bucket {results_bucket} --key sweeps/env/one/hello.txt --body "$TMPDIR/body" >/dev/null
        aws s3api list-objects-v2 --bucket {results_bucket} --prefix sweeps/env/ --query 'Contents[].Key' --output text
        """)
    )
    assert result.returncode == 0, result
    assert result.stdout.split() == ["sweeps/env/one/hello.txt"]
    assert s3_tree(results_bucket, "sweeps/") == {"sweeps/env/one/hello.txt": b"hello"}
    assert s3_tree(results_bucket, "other/") == {}


def test_conditional_put_if_none_match_succeeds_once(
    agent_sandbox: Callable[..., AgentSandbox], results_bucket: str, s3_tree: Callable[..., dict[str, bytes]]
) -> None:
    """The agent's lease (DESIGN §5): the second `--if-none-match '*'` write of a key fails with 412."""
    sandbox = agent_sandbox()
    result = sandbox.run(
        _script(f"""
        export AWS_DEFAULT_REGION=us-east-1 AWS_PAGER=""
        lease() {{ printf '%s' "$1" > "$TMPDIR/body"; aws s3api put-object --bucket {results_bucket} --key S/_lease/R/1 --if-none-match '*' --body "$TMPDIR/body"; }}
        lease first >/dev/null; echo "first=$?"
        lease second >/dev/null 2>"$TMPDIR/err"; echo "second=$?"
        cat "$TMPDIR/err" >&2
        """)
    )
    assert result.returncode == 0, result
    assert result.stdout.splitlines() == ["first=0", "second=255"]  # awscli v1: 255 for a service error (v2: 254)
    assert result.stderr.strip() == PRECONDITION_FAILED
    assert s3_tree(results_bucket, "S/_lease/") == {"S/_lease/R/1": b"first"}


def test_aws_cli_tags_and_stops_the_moto_instance(
    agent_sandbox: Callable[..., AgentSandbox], aws: Aws, instance: Callable[..., str], instance_tags: Callable[[str], dict[str, str]]
) -> None:
    instance_id = instance({"spawn:sweep": "env"})
    result = agent_sandbox().run(
        _script(f"""
        set -e
        export AWS_DEFAULT_REGION=us-east-1 AWS_PAGER=""
        aws ec2 create-tags --resources {instance_id} --tags Key=spawn:status,Value=running
        aws ec2 stop-instances --instance-ids {instance_id} >/dev/null
        """)
    )
    assert result.returncode == 0, result
    assert instance_tags(instance_id) == {"spawn:sweep": "env", "spawn:status": "running"}
    assert aws.instance_state(instance_id) == "stopped"  # on_complete: stop


def test_aws_cli_without_credentials_takes_the_role_from_imds(
    agent_sandbox: Callable[..., AgentSandbox], results_bucket: str, imds: Imds
) -> None:
    """As on an instance: no keys in the environment, the instance profile's through IMDSv2."""
    sandbox = agent_sandbox()
    env = sandbox.env(AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None)
    result = sandbox.run(
        _script(f"""
        export AWS_DEFAULT_REGION=us-east-1 AWS_PAGER=""
        aws s3api list-objects-v2 --bucket {results_bucket} --output json
        """),
        env=env,
    )
    assert result.returncode == 0, result
    role = imds.gets("/latest/meta-data/iam/security-credentials/spawn-tf-test-role")
    assert [request.token_valid for request in role] == [True]


def test_only_loopback_is_reachable(agent_sandbox: Callable[..., AgentSandbox]) -> None:
    sandbox = agent_sandbox()
    env = sandbox.env(AWS_ENDPOINT_URL=None, AWS_MAX_ATTEMPTS="1")  # an agent that forgot the endpoint
    result = sandbox.run(
        _script("""
        export AWS_DEFAULT_REGION=us-east-1 AWS_PAGER=""
        curl -sS -m 5 https://example.com/ >/dev/null; echo "curl=$?"
        aws s3api list-buckets >/dev/null; echo "aws=$?"
        """),
        env=env,
        timeout=30,
    )
    assert result.stdout.splitlines() == ["curl=7", "aws=255"], result  # curl 7: could not connect (to the dead proxy)
    assert "127.0.0.1:9" in result.stderr
    assert result.seconds < 15


# --- the sandbox and its stubs -------------------------------------------------------------------


def test_run_gives_the_script_its_own_file_as_dollar_zero(agent_sandbox: Callable[..., AgentSandbox]) -> None:
    sandbox = agent_sandbox()
    result = sandbox.run(
        _script("""
        echo "$0"
        sed '1,/^__MARK__$/d' "$0"
        pwd
        exit 7
        __MARK__
        after the marker
        """)
    )
    assert result.returncode == 7
    assert result.stdout.splitlines() == [str(sandbox.user_data_file), "after the marker", str(sandbox.root)]
    assert sandbox.user_data_file == sandbox.path("/var/lib/cloud/instance/scripts/part-001")
    assert result.args == ["bash", str(sandbox.user_data_file)]


def test_sandbox_environment(agent_sandbox: Callable[..., AgentSandbox], imds: Imds, aws: Aws) -> None:
    sandbox = agent_sandbox()
    env = sandbox.env(EXTRA="1", SPAWN_POLL_SECONDS=None)
    assert env["EXTRA"] == "1"
    assert "SPAWN_POLL_SECONDS" not in env
    env = sandbox.env()
    assert {name: env[name] for name in ("SPAWN_MIN_UPTIME", "SPAWN_POLL_SECONDS", "SPAWN_LOG_UPLOAD_SECONDS")} == {
        "SPAWN_MIN_UPTIME": "0",
        "SPAWN_POLL_SECONDS": "1",
        "SPAWN_LOG_UPLOAD_SECONDS": "2",
    }
    assert env["SPAWN_IMDS_ENDPOINT"] == imds.endpoint
    assert env["AWS_ENDPOINT_URL"] == aws.endpoint
    assert env["SPAWN_AGENT_ROOT"] == str(sandbox.root)
    assert env["HOME"].startswith(str(sandbox.folder))
    assert "AWS_DEFAULT_REGION" not in env  # the user-data sets it
    result = sandbox.run(
        _script("""
        for c in aws shutdown poweroff systemd-run python3; do command -v "$c"; done
        python3 -c 'import boto3' 2>/dev/null && echo boto3 || echo no-boto3
        """)
    )
    found = result.stdout.splitlines()
    assert found[:4] == [str(sandbox.bin / name) for name in ("aws", "shutdown", "poweroff", "systemd-run")]
    assert found[4] == shutil.which("python3", path="/usr/bin:/bin")  # the system's, as on AL2023
    assert found[5] == "no-boto3"


def test_power_stubs_record_their_arguments(agent_sandbox: Callable[..., AgentSandbox]) -> None:
    sandbox = agent_sandbox()
    result = sandbox.run(_script("shutdown -h +25 2>/dev/null || true\npoweroff\nshutdown -h now\nsystemctl poweroff\necho alive\n"))
    assert result.stdout == "alive\n"
    assert sandbox.shutdown_log() == [["shutdown", "-h", "+25"], ["poweroff"], ["shutdown", "-h", "now"], ["systemctl", "poweroff"]]


def test_systemd_run_runs_its_command_inline_as_a_clean_service(agent_sandbox: Callable[..., AgentSandbox]) -> None:
    sandbox = agent_sandbox()
    result = sandbox.run(
        _script("""
        export GREETING='hello world' NOT_PASSED=x
        systemd-run --unit=spawn-agent-1 --property=KillMode=process --collect --quiet -E GREETING -E SPAWN_AGENT_ROOT \\
          --setenv=EMPTY --setenv=SET='a b' /bin/bash -c '
            printf "%s|%s|%s|%s|%s|%s\\n" "$GREETING" "${NOT_PASSED-unset}" "${AWS_ENDPOINT_URL-unset}" "${EMPTY-unset}" "$SET" "$PWD" \\
              > "$SPAWN_AGENT_ROOT/out"
            echo to-the-journal; echo err-to-the-journal >&2; exit 3'
        echo "systemd-run=$?"
        cat "$SPAWN_AGENT_ROOT/out"
        """)
    )
    assert result.returncode == 0, result
    assert result.stdout.splitlines() == ["systemd-run=0", f"hello world|unset|unset||a b|{sandbox.root}"]
    assert result.journal == sandbox.journal() == "to-the-journal\nerr-to-the-journal\n"
    [call] = sandbox.systemd_run_calls()
    assert call["options"] == [
        ["--unit", "spawn-agent-1"],
        ["--property", "KillMode=process"],
        ["--collect", None],
        ["--quiet", None],
        ["--setenv", "GREETING"],
        ["--setenv", "SPAWN_AGENT_ROOT"],
        ["--setenv", "EMPTY"],
        ["--setenv", "SET=a b"],
    ]
    assert call["command"][:2] == ["/bin/bash", "-c"]
    assert call["returncode"] == 3
    assert call["mode"] == "clean"
    assert "AWS_ENDPOINT_URL" not in call["env"]
    assert {"PATH", "AWS_CONFIG_FILE", "HTTPS_PROXY", "NO_PROXY"} <= set(call["env"])


def test_systemd_run_inherit_mode_scope_and_wait(agent_sandbox: Callable[..., AgentSandbox]) -> None:
    sandbox = agent_sandbox(systemd_run="inherit")
    result = sandbox.run(
        _script("""
        systemd-run -qG -u inherit --wait -- bash -c 'echo "${AWS_ENDPOINT_URL:+endpoint}"; exit 4'; echo "wait=$?"
        systemd-run --scope --quiet bash -c 'echo in-scope; exit 5'; echo "scope=$?"
        systemd-run --pipe bash -c 'echo piped'
        systemd-run -p StandardOutput=append:"$SPAWN_AGENT_ROOT/agent.log" bash -c 'echo to-file; echo err-too >&2'
        cat "$SPAWN_AGENT_ROOT/agent.log"
        """)
    )
    assert result.stdout.splitlines() == ["wait=4", "in-scope", "scope=5", "piped", "to-file", "err-too"], result
    assert result.journal == "endpoint\n"
    assert [call["returncode"] for call in sandbox.systemd_run_calls()] == [4, 5, 0, 0]
    assert [call["mode"] for call in sandbox.systemd_run_calls()] == ["inherit", "scope", "inherit", "inherit"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("-p EnvironmentFile=/etc/x", "not emulated"),
        ("--on-active=5", "timers are not emulated"),
        ("--user", "no user manager"),
        ("--bogus", "unknown option --bogus"),
        ("", "Failed to find executable no-such-command"),
    ],
)
def test_systemd_run_refuses_what_it_cannot_emulate(agent_sandbox: Callable[..., AgentSandbox], options: str, message: str) -> None:
    sandbox = agent_sandbox()
    result = sandbox.run(_script(f"systemd-run {options} no-such-command\n"))
    assert result.returncode == 1
    assert message in result.stderr
    assert sandbox.systemd_run_calls() == []


def test_run_ends_what_the_user_data_left_running(agent_sandbox: Callable[..., AgentSandbox]) -> None:
    sandbox = agent_sandbox()
    result = sandbox.run(_script("sleep 300 &\nsetsid sleep 301 &\nsystemd-run --quiet sleep 302 &\nsleep 0.5\necho started\n"))
    assert result.stdout == "started\n"
    assert result.seconds < 10
    assert {"sleep 300", "sleep 301", "sleep 302"} <= set(result.lingering)
    assert sandbox.processes() == {}


def test_run_fails_the_test_after_its_timeout(agent_sandbox: Callable[..., AgentSandbox]) -> None:
    sandbox = agent_sandbox()
    started = time.monotonic()
    with pytest.raises(pytest.fail.Exception, match="still running after 1s"):
        sandbox.run(_script("echo waiting; sleep 30\n"), timeout=1)
    assert time.monotonic() - started < 10
    assert sandbox.processes() == {}
    assert sandbox.runs[-1].stdout == "waiting\n"


@pytest.mark.parametrize(
    "line",
    ["/sbin/shutdown -h now", "/usr/sbin/poweroff", "x; /bin/systemctl reboot", "export PATH=/usr/sbin:/usr/bin", "env -i bash x"],
)
def test_run_refuses_user_data_that_could_stop_this_machine(agent_sandbox: Callable[..., AgentSandbox], line: str) -> None:
    sandbox = agent_sandbox()
    with pytest.raises(ValueError, match="refusing"):
        sandbox.run(_script(line + "\n"))
    assert sandbox.runs == []


SWEEP = """\
sweep: envtest
results: s3://spawn-test-bucket/sweeps
defaults:
  region: us-east-1
  ttl: 10m
  command: echo hi
params:
  - name: one
"""


def test_render_user_data_gives_what_the_sandbox_accepts(
    render_user_data: Callable[[str, str], str], agent_sandbox: Callable[..., AgentSandbox]
) -> None:
    text = render_user_data(SWEEP, "one")
    assert text.startswith("#!/bin/bash\n") and "shutdown -h +" in text.splitlines()[1]  # the ttl backstop on line 2
    assert "export SPAWN_RESULTS_BUCKET='spawn-test-bucket'\n" in text
    assert text.endswith("echo hi\n")
    assert agent_sandbox().refusals(text) == []
    with pytest.raises(ValueError, match="no run 'two'"):
        render_user_data(SWEEP, "two")
