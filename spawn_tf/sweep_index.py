"""Where each compiled sweep reports: a small per-user index, so that a bare sweep id finds its bucket.

`compile` records each sweep it writes (id -> bucket, prefix, regions, build folder); the collector
looks a bare id up here before `SPAWN_TF_RESULTS` and the account's default bucket (README "After
apply"). The file is $SPAWN_TF_INDEX, else $XDG_STATE_HOME/spawn-tf/sweeps.json, else
~/.local/state/spawn-tf/sweeps.json; it keeps the most recent MAX_SWEEP_INDEX_ENTRIES sweeps and is
replaced whole (written beside, then renamed) under a lock, so two compiles at once lose nothing.
Standard library only: `compile` imports this, and never boto3.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from spawn_tf import contract

_VERSION = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """Where a compiled sweep reports."""

    sweep: str
    bucket: str | None  # None: the account's default bucket of `home_region`
    prefix: str
    bucket_region: str
    home_region: str
    build: str  # the compiled folder, build/<sweep>, absolute


def index_path() -> Path:
    explicit = os.environ.get(contract.ENV_SWEEP_INDEX)
    if explicit:
        return Path(explicit)
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / contract.SWEEP_INDEX_FILE


def remember(sweep_id: str, *, bucket: str | None, prefix: str, bucket_region: str, home_region: str, build_dir: Path) -> str | None:
    """Record where `sweep_id` reports; a problem (the index cannot be written) as one line, else None.

    An index that cannot be written costs only the lookup of a bare id, so it never fails a compile.
    """
    path = index_path()
    entry = Entry(sweep=sweep_id, bucket=bucket, prefix=prefix, bucket_region=bucket_region, home_region=home_region,
                  build=str(build_dir.resolve()))  # fmt: skip
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _locked(path):
            entries = _read(path)
            entries.pop(sweep_id, None)  # re-inserted last: the most recent
            entries[sweep_id] = asdict(entry)
            kept = dict(list(entries.items())[-contract.MAX_SWEEP_INDEX_ENTRIES :])
            _write(path, {"version": _VERSION, "sweeps": kept})
    except (OSError, RuntimeError) as exc:  # RuntimeError: Path.home() without a home
        return f"{path}: the index of compiled sweeps was not updated ({getattr(exc, 'strerror', None) or exc}); " \
               f"give `--results` with the sweep's id"  # fmt: skip
    return None


def recall(sweep_id: str) -> Entry | None:
    """Where the index says `sweep_id` reports, or None (not compiled here, or no readable index)."""
    try:
        found = _read(index_path()).get(sweep_id)
        return Entry(**found) if isinstance(found, dict) else None
    except (OSError, RuntimeError, TypeError):
        return None


def report_location(bucket: str | None, sweep_folder: str, home_region: str) -> str:
    """s3://BUCKET/S/ as compile can say it: the default bucket's account id is known only to AWS."""
    return f"s3://{bucket or contract.DEFAULT_RESULTS_BUCKET.format(account_id='<account-id>', region=home_region)}/{sweep_folder}/"


def scattered_default_buckets(sweeps: Sequence[tuple[str, str | None, str]]) -> str | None:
    """A warning when sweeps compiled together report to default buckets of different home regions, else None.

    Args:
        sweeps: (file, bucket or None for the default one, home region) of each sweep of one command.

    The how-to's per-region files each get the default bucket of their own `defaults.region`, so
    their results end up in as many buckets; a shared `results:` (or the same home region) keeps
    them together.
    """
    regions: dict[str, list[str]] = {}
    for file, bucket, home_region in sweeps:
        if bucket is None:
            regions.setdefault(home_region, []).append(file)
    if len(regions) < 2:
        return None
    buckets = {region: contract.DEFAULT_RESULTS_BUCKET.format(account_id="<account-id>", region=region) for region in regions}
    where = "; ".join(f"{', '.join(files)} -> s3://{buckets[region]}" for region, files in sorted(regions.items()))
    return (f"these sweeps report to {len(regions)} different default buckets, one per home region (defaults.region): {where}; "
            "set the same `results: s3://BUCKET/PREFIX` in each to keep their results together")  # fmt: skip


def _read(path: Path) -> dict[str, dict[str, object]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}  # a damaged index is rebuilt by the next compiles
    sweeps = data.get("sweeps") if isinstance(data, dict) else None
    return dict(sweeps) if isinstance(sweeps, dict) else {}


def _write(path: Path, data: dict[str, object]) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=1)  # in insertion order: the oldest first
            out.write("\n")
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
