"""A run's capacity candidates and which one it uses now (DESIGN §13). Pure.

Terraform decides the same in each root (spawn_tf/emit/capacity.py) from the offerings and subnets
it reads; this module is the rule in Python, for `expand`, `status` and the tests that hold the two
to one answer.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from spawn_tf.contract import Market
from spawn_tf.model import RunSettings


@dataclass(frozen=True, slots=True)
class Placement:
    """Where an instance goes: a zone and the subnet in it."""

    zone: str
    subnet: str


@dataclass(frozen=True, slots=True)
class Candidate:
    index: int
    instance_type: str
    market: Market
    placement: Placement


@dataclass(frozen=True, slots=True)
class Marker:
    """S/_capacity/R/<candidate>.<unix time>: the candidate had no capacity at that time."""

    candidate: int
    unix_time: int


def placements(settings: RunSettings, default_subnets: Mapping[str, str], subnet_zones: Mapping[str, str]) -> tuple[Placement, ...]:
    """The run's subnets in order: those of `subnet_id` as written; else the default subnet of each zone
    (`zones` as written, or every zone by name) that has one.

    Args:
        default_subnets: zone -> its default subnet, as Terraform reads them.
        subnet_zones: subnet -> its zone, for the subnets a run names.
    """
    if settings.subnet_ids:
        return tuple(Placement(subnet_zones[subnet], subnet) for subnet in settings.subnet_ids if subnet in subnet_zones)
    zones = settings.zones or tuple(sorted(default_subnets))
    return tuple(Placement(zone, default_subnets[zone]) for zone in zones if zone in default_subnets)


def candidates(settings: RunSettings, where: Iterable[Placement], offered: Mapping[str, Collection[str]]) -> tuple[Candidate, ...]:
    """Market, then instance type, then placement: every spot candidate before any on-demand one.
    A placement whose zone does not offer the type (`offered`: type -> zones) is left out."""
    where = tuple(where)
    ordered = [
        (instance_type, market, placement)
        for market in settings.markets
        for instance_type in settings.instance_types
        for placement in where
        if placement.zone in offered.get(instance_type, ())
    ]
    return tuple(Candidate(index, instance_type, market, placement) for index, (instance_type, market, placement) in enumerate(ordered))


def live(markers: Iterable[Marker], now: int, retry_after: int) -> frozenset[int]:
    """The candidates marked within `retry_after` seconds of `now`. They choose a run's candidate when it is
    launched, and again after a new marker of it; in between (a started run) it keeps the one it has."""
    return frozenset(marker.candidate for marker in markers if marker.unix_time + retry_after > now)


def current(count: int, marked: Collection[int]) -> int | None:
    """The first of `count` candidates without a live marker; None when every one is marked (the run waits)."""
    return next((index for index in range(count) if index not in marked), None)
