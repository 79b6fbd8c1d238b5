"""AWS reference data from the installed botocore's own data files: regions and EC2 enums.

Read as JSON straight from botocore's data folder, so the compile path never imports botocore
(0.2 s) or boto3. Cached: each file (each EC2 enum) is read once per process.
"""

from __future__ import annotations

import gzip
import json
import re
from functools import cache
from importlib.util import find_spec
from pathlib import Path
from typing import Any


def _data_dir() -> Path:
    spec = find_spec("botocore")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("botocore is not installed; spawn-tf needs it for AWS region and instance data")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _read_json(path: Path) -> Any:
    gz = path.with_name(path.name + ".gz")
    if gz.exists():
        return json.loads(gzip.decompress(gz.read_bytes()))
    return json.loads(path.read_bytes())


@cache
def regions() -> frozenset[str]:
    """Every region botocore knows, in every partition (pseudo-regions like aws-global left out)."""
    partitions = _read_json(_data_dir() / "partitions.json")["partitions"]
    return frozenset(name for p in partitions for name in p["regions"] if not name.endswith("-global"))


def _ec2_model_text() -> str:
    versions = sorted(p.name for p in (_data_dir() / "ec2").iterdir() if p.is_dir())
    path = _data_dir() / "ec2" / versions[-1] / "service-2.json"
    gz = path.with_name(path.name + ".gz")
    return (gzip.decompress(gz.read_bytes()) if gz.exists() else path.read_bytes()).decode()


@cache
def ec2_enum(shape: str) -> frozenset[str]:
    """The values of an enum shape of the EC2 API model, e.g. 'InstanceType'.

    Only that shape's JSON is decoded: the whole model (4 MB) took a tenth of compiling 1,000 runs.
    Its name also keys members that refer to it; the shape is the one object under it with an enum.
    """
    text = _ec2_model_text()
    decoder = json.JSONDecoder()
    for found in re.finditer(rf'"{re.escape(shape)}"\s*:\s*(?=\{{)', text):
        try:
            value, _ = decoder.raw_decode(text, found.end())
        except ValueError:  # the name inside a string (documentation)
            continue
        if isinstance(value.get("enum"), list) and value.get("type") == "string":
            return frozenset(value["enum"])
    raise KeyError(f"the EC2 model has no enum shape {shape}")


@cache
def family_sizes(family: str) -> tuple[str, ...]:
    """The instance types of a family (`g5` -> g5.xlarge, g5.2xlarge, …), smallest first: spawn's order for `g5.*`."""
    return tuple(sorted((t for t in ec2_enum("InstanceType") if t.split(".", 1)[0] == family), key=size_order))


@cache
def families() -> frozenset[str]:
    return frozenset(t.split(".", 1)[0] for t in ec2_enum("InstanceType"))


def size_order(instance_type: str) -> tuple[int, int, str]:
    """nano < micro < … < xlarge < 2xlarge < … < metal: the order AWS lists sizes in."""
    size = instance_type.split(".", 1)[1]
    named = ("nano", "micro", "small", "medium", "large", "xlarge")
    if size in named:
        return (0, named.index(size), size)
    count = size.removesuffix("xlarge")
    return (1, int(count), size) if count.isdigit() else (2, 0, size)
