"""spawn_tf/awsdata.py: an enum of the EC2 model read alone is the one the whole model holds."""

from __future__ import annotations

import gzip
import json

import pytest

from spawn_tf import awsdata


def _whole_model_shapes() -> dict[str, dict[str, object]]:
    folder = awsdata._data_dir() / "ec2"
    version = sorted(path.name for path in folder.iterdir() if path.is_dir())[-1]
    path = folder / version / "service-2.json"
    gz = path.with_name(path.name + ".gz")
    return json.loads(gzip.decompress(gz.read_bytes()) if gz.exists() else path.read_bytes())["shapes"]


@pytest.mark.parametrize("shape", ["InstanceType", "ArchitectureValues", "MarketType"])
def test_ec2_enum_is_the_shapes_enum_of_the_whole_model(shape: str) -> None:
    # InstanceType also keys members that refer to the shape (and appears in documentation): only the shape counts.
    assert awsdata.ec2_enum(shape) == frozenset(_whole_model_shapes()[shape]["enum"])
    assert "m7i.large" in awsdata.ec2_enum("InstanceType")


def test_ec2_enum_of_a_shape_without_enum_is_an_error() -> None:
    with pytest.raises(KeyError):
        awsdata.ec2_enum("DescribeInstancesRequest")  # a structure, not an enum
