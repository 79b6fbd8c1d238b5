"""Hourly EC2 prices from real sources only: a price file, or AWS's Price List API and spot price history.

Nothing here guesses: a price that no source gives stays unknown. Parsing and writing price files
is pure; `read_price_file` reads one file, and only `fetch_prices` calls AWS (boto3 is imported there,
never on the compile path).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import MappingProxyType
from typing import Any

from spawn_tf import awsdata, contract
from spawn_tf.diagnostics import Diagnostic, Span, did_you_mean, error, ordered
from spawn_tf.load import read_regular_file

_INSTANCE_TYPE = re.compile(r"[a-z0-9-]+\.[a-z0-9-]+")
_COMMENT = "#"
# Price List API attributes of a plain Linux instance on shared hardware, as AWS spells them
# (GetProducts: https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_pricing_GetProducts.html).
_ON_DEMAND_FILTERS = {"operatingSystem": "Linux", "tenancy": "Shared", "preInstalledSw": "NA", "capacitystatus": "Used"}
_SPOT_PRODUCT = "Linux/UNIX"  # spot price history's product description for Linux


@dataclass(frozen=True, slots=True, kw_only=True)
class Price:
    """USD per instance-hour of one instance type in one region; None where the source gives none."""

    on_demand_usd: Decimal | None
    spot_usd: Decimal | None
    date: str  # the day the prices were read, YYYY-MM-DD


@dataclass(frozen=True, slots=True, kw_only=True)
class PriceTable:
    source: str  # the price file, or the AWS APIs and the day they were asked
    prices: Mapping[tuple[str, str], Price]  # (region, instance type) -> price
    notes: tuple[str, ...] = ()  # what a live source could not answer

    def get(self, region: str, instance_type: str) -> Price | None:
        return self.prices.get((region, instance_type))


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


# --- price files -------------------------------------------------------------------------------


def parse_price_file(text: str, display: str) -> tuple[PriceTable | None, tuple[Diagnostic, ...]]:
    """A price file's rows, or None with every problem located at file:line:col.

    The format: CSV with the header `region,instance_type,on_demand,spot,date` (any order); one row
    per region and instance type; prices in USD per hour, empty when unknown (not both); the date
    as YYYY-MM-DD. Blank lines and lines starting with '#' are ignored.
    """
    found: list[Diagnostic] = []
    header: list[str] | None = None
    prices: dict[tuple[str, str], Price] = {}
    first_line: dict[tuple[str, str], int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith(_COMMENT):
            continue
        cells = [cell.strip() for cell in next(csv.reader([line]))]
        columns = _columns(line, len(cells))
        if header is None:
            header = cells
            found.extend(_header_problems(cells, display, number, columns))
            if found:
                break  # rows cannot be read without their columns
            continue
        if len(cells) != len(header):
            found.append(error("price-file-syntax", f"this row has {len(cells)} columns but the header has {len(header)}",
                               Span(file=display, line=number, col=1)))  # fmt: skip
            continue
        row = dict(zip(header, cells, strict=True))
        at = {name: Span(file=display, line=number, col=columns[i]) for i, name in enumerate(header)}
        price, problems = _row_price(row, at)
        found.extend(problems)
        key = (row.get("region", ""), row.get("instance_type", ""))
        if price is None:
            continue
        if key in first_line:
            found.append(error("duplicate-price", f"{key[1]} in {key[0]} is already priced on line {first_line[key]}", at["region"],
                               "keep one row per region and instance type"))  # fmt: skip
            continue
        first_line[key] = number
        prices[key] = price
    if header is None:
        found.append(error("empty-price-file", "the price file has no header row", Span(file=display, line=1, col=1),
                           f"the first row names the columns: {','.join(contract.PRICE_COLUMNS)}"))  # fmt: skip
    if found:
        return None, ordered(found)
    return PriceTable(source=display, prices=MappingProxyType(prices)), ()


def read_price_file(path: Path, display: str | None = None) -> tuple[PriceTable | None, tuple[Diagnostic, ...]]:
    name = display or str(path)
    try:
        text = read_regular_file(path, contract.MAX_SWEEP_FILE_BYTES).decode("utf-8-sig")  # never a FIFO or /dev/zero
    except FileNotFoundError:
        return None, (error("price-file-not-found", f"no such price file '{name}'", None,
                            "write one with: spawn-tf cost SWEEP --live --save-prices FILE"),)  # fmt: skip
    except (OSError, UnicodeDecodeError) as exc:
        return None, (error("unreadable-price-file", f"cannot read the price file '{name}': {exc}"),)
    return parse_price_file(text, name)


def render_price_file(table: PriceTable) -> str:
    """A price file holding `table` (sorted rows; a comment names the source)."""
    lines = [f"{_COMMENT} {line}" for line in (f"source: {table.source}", *table.notes)]
    lines.append(",".join(contract.PRICE_COLUMNS))
    for (region, instance_type), price in sorted(table.prices.items()):
        lines.append(",".join((region, instance_type, _decimal_text(price.on_demand_usd), _decimal_text(price.spot_usd), price.date)))
    return "\n".join(lines) + "\n"


def _decimal_text(value: Decimal | None) -> str:
    return "" if value is None else format(value.normalize(), "f")


def _columns(line: str, count: int) -> list[int]:
    """1-based column of each cell; cells of a quoted line all point at column 1."""
    if '"' in line:
        return [1] * count
    starts, col = [], 1
    for cell in line.split(","):
        starts.append(col + len(cell) - len(cell.lstrip()))
        col += len(cell) + 1
    return starts


def _header_problems(header: list[str], display: str, line: int, columns: list[int]) -> Iterator[Diagnostic]:
    for i, name in enumerate(header):
        span = Span(file=display, line=line, col=columns[i])
        if name not in contract.PRICE_COLUMNS:
            yield error("unknown-price-column", f"unknown column '{name}' in the price file", span,
                        did_you_mean(name, contract.PRICE_COLUMNS) or f"the columns are {','.join(contract.PRICE_COLUMNS)}")  # fmt: skip
        elif name in header[:i]:
            yield error("duplicate-price-column", f"duplicate column '{name}'", span)
    for name in contract.PRICE_COLUMNS:
        if name not in header:
            yield error("missing-price-column", f"the price file has no '{name}' column", Span(file=display, line=line, col=1),
                        f"the header is {','.join(contract.PRICE_COLUMNS)}")  # fmt: skip


def _row_price(row: Mapping[str, str], at: Mapping[str, Span]) -> tuple[Price | None, list[Diagnostic]]:
    problems: list[Diagnostic] = []
    region, instance_type, date = row["region"], row["instance_type"], row["date"]
    if region not in awsdata.regions():
        problems.append(error("unknown-region", f"unknown region '{region}'", at["region"], did_you_mean(region, awsdata.regions())))
    if not _INSTANCE_TYPE.fullmatch(instance_type):
        problems.append(error("bad-instance-type", f"'{instance_type}' is not an instance type", at["instance_type"],
                              "instance types look like 'g5.xlarge'"))  # fmt: skip
    amounts = {column: _amount(row[column], at[column], problems) for column in ("on_demand", "spot")}
    if not row["on_demand"] and not row["spot"]:
        problems.append(error("no-price", f"no price for {instance_type} in {region}", at["on_demand"],
                              "give on_demand, spot or both (USD per hour); leave out types you have no price for"))  # fmt: skip
    try:
        if not _ISO_DATE.fullmatch(date):  # strptime takes 2026-1-2 too
            raise ValueError(date)
        dt.datetime.strptime(date, contract.PRICE_DATE_FORMAT)
    except ValueError:
        problems.append(
            error("bad-price-date", f"'{date}' is not a date", at["date"], "dates look like 2026-11-29 (the day the prices were read)")
        )
    if problems:
        return None, problems
    return Price(on_demand_usd=amounts["on_demand"], spot_usd=amounts["spot"], date=date), problems


def _amount(text: str, span: Span, problems: list[Diagnostic]) -> Decimal | None:
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or value < 0:
        problems.append(error("bad-price", f"'{text}' is not a price", span, "prices are USD per hour, like 0.096"))
        return None
    if value == 0:  # a free hour would pass any budget
        problems.append(error("bad-price", "a price of 0 is not a price", span, "leave the cell empty when the price is unknown"))
        return None
    return value


# --- live prices -------------------------------------------------------------------------------

ClientFactory = Callable[[str, str], Any]  # (service, region) -> a boto3 client


def aws_clients() -> ClientFactory:
    """boto3 clients from the default credentials, one per service and region, with adaptive retries.

    The number of attempts is the AWS configuration's (AWS_MAX_ATTEMPTS, `max_attempts` in ~/.aws/config; 3 by default).
    """
    import boto3
    from botocore.config import Config
    from botocore.exceptions import NoCredentialsError

    from spawn_tf.collect.aws import fail_fast_offline

    session = boto3.session.Session()
    if session.get_credentials() is None:  # else every source fails alike, one by one
        raise NoCredentialsError
    fail_fast_offline(session)
    config = Config(retries={"mode": "adaptive"}, connect_timeout=10)
    made: dict[tuple[str, str], Any] = {}

    def client(service: str, region: str) -> Any:
        if (service, region) not in made:
            made[(service, region)] = session.client(service, region_name=region, config=config)
        return made[(service, region)]

    return client


def fetch_prices(pairs: Iterable[tuple[str, str]], client: ClientFactory, now: dt.datetime) -> PriceTable:
    """Current prices of (region, instance type) pairs: on-demand from the Price List API, spot from
    each region's spot price history (the highest current price over its availability zones).

    A source that fails leaves its prices unknown and says why in `notes`.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    wanted = sorted(set(pairs))
    notes: list[str] = []
    on_demand: dict[tuple[str, str], Decimal | None] = {}
    pricing = client("pricing", contract.PRICING_API_REGION)
    for region, instance_type in wanted:
        try:
            on_demand[(region, instance_type)] = _on_demand_price(pricing, region, instance_type)
        except (BotoCoreError, ClientError) as exc:
            notes.append(f"on-demand prices unknown: the Price List API failed: {_one_line(exc)}")
            break
    spot: dict[tuple[str, str], Decimal] = {}
    for region in sorted({region for region, _ in wanted}):
        types = [instance_type for r, instance_type in wanted if r == region]
        try:
            spot.update(((region, t), price) for t, price in _spot_prices(client("ec2", region), types, now).items())
        except (BotoCoreError, ClientError) as exc:
            notes.append(f"spot prices in {region} unknown: spot price history failed: {_one_line(exc)}")
    date = now.strftime(contract.PRICE_DATE_FORMAT)
    prices = {
        key: Price(on_demand_usd=on_demand.get(key), spot_usd=spot.get(key), date=date)
        for key in wanted
        if on_demand.get(key) is not None or key in spot
    }
    source = f"AWS Price List API and EC2 spot price history, {date}"
    return PriceTable(source=source, prices=MappingProxyType(prices), notes=tuple(dict.fromkeys(notes)))


def _on_demand_price(pricing: Any, region: str, instance_type: str) -> Decimal | None:
    """The Linux on-demand price; the highest when AWS lists more than one product for the filters."""
    filters = {"regionCode": region, "instanceType": instance_type, **_ON_DEMAND_FILTERS}
    found: list[Decimal] = []
    for page in pricing.get_paginator("get_products").paginate(
        ServiceCode="AmazonEC2", Filters=[{"Type": "TERM_MATCH", "Field": field, "Value": value} for field, value in filters.items()]
    ):
        found.extend(price for item in page["PriceList"] for price in on_demand_prices(json.loads(item) if isinstance(item, str) else item))
    return max(found, default=None)


def on_demand_prices(product: Mapping[str, Any]) -> Iterator[Decimal]:
    """The hourly USD prices in one Price List product document (`terms.OnDemand.*.priceDimensions.*`)."""
    for offer in product.get("terms", {}).get("OnDemand", {}).values():
        for dimension in offer.get("priceDimensions", {}).values():
            usd = dimension.get("pricePerUnit", {}).get("USD")
            if dimension.get("unit") == "Hrs" and usd is not None and Decimal(usd) > 0:
                yield Decimal(usd)


def _spot_prices(ec2: Any, instance_types: list[str], now: dt.datetime) -> dict[str, Decimal]:
    """Instance type -> the highest current spot price over the region's zones.

    With StartTime = now, the history holds each zone's price in effect at that time.
    """
    latest: dict[tuple[str, str], tuple[dt.datetime, Decimal]] = {}
    pages = ec2.get_paginator("describe_spot_price_history").paginate(
        InstanceTypes=instance_types, ProductDescriptions=[_SPOT_PRODUCT], StartTime=now
    )
    for page in pages:
        for entry in page["SpotPriceHistory"]:
            key = (entry["InstanceType"], entry["AvailabilityZone"])
            seen = latest.get(key)
            if seen is None or entry["Timestamp"] > seen[0]:
                latest[key] = (entry["Timestamp"], Decimal(entry["SpotPrice"]))
    highest: dict[str, Decimal] = {}
    for (instance_type, _), (_, price) in latest.items():
        highest[instance_type] = max(price, highest.get(instance_type, price))
    return highest


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def live_prices(fetched: list[PriceTable]) -> Callable[[set[tuple[str, str]]], PriceTable]:
    """The price source of --live: AWS's current prices for the (region, instance type) pairs asked, each table kept in `fetched`.

    An answer that read no price at all is an error, not an estimate of nothing.
    """
    from spawn_tf.errors import SpawnError

    def fetch(pairs: set[tuple[str, str]]) -> PriceTable:
        from botocore.exceptions import BotoCoreError, NoCredentialsError

        try:
            clients = aws_clients()
        except NoCredentialsError:
            raise SpawnError("--live needs AWS credentials, and there are none",
                             "set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or give a price file with --prices") from None  # fmt: skip
        except BotoCoreError as exc:  # a profile that does not exist, a broken config file
            raise SpawnError(f"AWS: {exc}") from None
        table = fetch_prices(pairs, clients, dt.datetime.now(dt.UTC))
        if pairs and not table.prices and table.notes:
            notes = "".join(f"\n  {note}" for note in table.notes)
            raise SpawnError(f"--live read no price from AWS:{notes}", "check the credentials and the network, or give a price file with --prices")
        fetched.append(table)
        return table

    return fetch
