"""Price files: parsing with located errors, writing, and reading Price List product documents."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from spawn_tf.prices import PriceTable, on_demand_prices, parse_price_file, read_price_file, render_price_file

# Test values, not AWS prices.
GOOD = """\
# test values
region,instance_type,on_demand,spot,date
us-east-1,m7i.large,0.1008,0.0401,2026-11-29

eu-west-1,m7i.large,0.112,,2026-11-28
"""


def _codes(text: str) -> list[tuple[str, int | None, int | None]]:
    table, diagnostics = parse_price_file(text, "prices.csv")
    assert table is None
    return [(d.code, d.span.line if d.span else None, d.span.col if d.span else None) for d in diagnostics]


def test_parse_price_file_reads_rows_as_decimals() -> None:
    table, diagnostics = parse_price_file(GOOD, "prices.csv")
    assert diagnostics == ()
    assert table is not None and table.source == "prices.csv"
    price = table.get("us-east-1", "m7i.large")
    assert price is not None and price.on_demand_usd == Decimal("0.1008") and price.spot_usd == Decimal("0.0401")
    west = table.get("eu-west-1", "m7i.large")
    assert west is not None and west.spot_usd is None and west.date == "2026-11-28"
    assert table.get("us-east-1", "g5.xlarge") is None


def test_parse_price_file_columns_in_any_order() -> None:
    table, _ = parse_price_file("date,spot,on_demand,instance_type,region\n2026-01-02,0.5,1,g5.xlarge,us-east-1\n", "p.csv")
    assert table is not None and table.get("us-east-1", "g5.xlarge") is not None


def test_parse_price_file_locates_each_bad_cell() -> None:
    text = (
        "region,instance_type,on_demand,spot,date\n"
        "us-east-9,m7i.large,0.1,0.04,2026-11-29\n"  # unknown region
        "us-east-1,m7i,0.1,0.04,2026-11-29\n"  # not an instance type
        "us-east-1,m7i.large,cheap,-1,2026-11-29\n"  # two bad prices
        "us-east-1,c7i.large,,,2026-11-29\n"  # no price at all
        "us-east-1,t3.micro,0.01,0.003,29/11/2026\n"  # not a date
        "us-east-1,t3.small,0.02\n"  # short row
        "us-east-1,t3.micro,0.01,0.003,2026-11-29\n"
        "us-east-1,t3.micro,0.01,0.003,2026-11-29\n"  # duplicate
    )
    assert _codes(text) == [
        ("unknown-region", 2, 1),
        ("bad-instance-type", 3, 11),
        ("bad-price", 4, 21),
        ("bad-price", 4, 27),
        ("no-price", 5, 21),
        ("bad-price-date", 6, 31),
        ("price-file-syntax", 7, 1),
        ("duplicate-price", 9, 1),
    ]


def test_parse_price_file_header_problems() -> None:
    assert _codes("region,instance,on_demand,spot,date\n") == [("missing-price-column", 1, 1), ("unknown-price-column", 1, 8)]
    assert _codes("# only a comment\n\n") == [("empty-price-file", 1, 1)]


def test_read_price_file_missing_file(tmp_path: Path) -> None:
    table, diagnostics = read_price_file(tmp_path / "nope.csv")
    assert table is None and [d.code for d in diagnostics] == ["price-file-not-found"]


def test_render_price_file_round_trips() -> None:
    table, _ = parse_price_file(GOOD, "prices.csv")
    assert table is not None
    written = render_price_file(PriceTable(source="test", prices=table.prices, notes=("spot prices in eu-west-1 unknown",)))
    assert written.splitlines()[:3] == ["# source: test", "# spot prices in eu-west-1 unknown", "region,instance_type,on_demand,spot,date"]
    again, diagnostics = parse_price_file(written, "again.csv")
    assert diagnostics == () and again is not None and dict(again.prices) == dict(table.prices)


def test_on_demand_prices_reads_hourly_usd_dimensions() -> None:
    # The shape of a Price List product document (GetProducts returns each as a JSON string).
    product = {
        "product": {"attributes": {"instanceType": "m7i.large", "regionCode": "us-east-1"}},
        "terms": {
            "OnDemand": {
                "OFFER.TERM": {
                    "priceDimensions": {
                        "OFFER.TERM.RATE": {"unit": "Hrs", "pricePerUnit": {"USD": "0.1008000000"}},
                        "OFFER.TERM.ZERO": {"unit": "Hrs", "pricePerUnit": {"USD": "0.0000000000"}},
                    }
                }
            },
            "Reserved": {"R.TERM": {"priceDimensions": {"R.TERM.RATE": {"unit": "Hrs", "pricePerUnit": {"USD": "0.05"}}}}},
        },
    }
    assert list(on_demand_prices(product)) == [Decimal("0.1008")]


def test_a_zero_price_or_a_loose_date_is_refused() -> None:
    text = "region,instance_type,on_demand,spot,date\nus-east-1,m7i.large,0,0.00,2026-11-29\neu-west-1,m7i.large,0.1,,2026-1-2\n"
    table, diagnostics = parse_price_file(text, "p.csv")
    assert table is None
    assert [(d.code, d.span.line, d.span.col) for d in diagnostics if d.span] == [
        ("bad-price", 2, 21), ("bad-price", 2, 23), ("bad-price-date", 3, 26),
    ]  # fmt: skip
