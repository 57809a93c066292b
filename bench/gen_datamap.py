"""Write a synthetic data map: the example subprocessors and N customers, 30% of them hosted in the EU region.

    .venv/bin/python bench/gen_datamap.py DIR [--customers 1000000] [--webhook-base http://127.0.0.1:8765/hooks]

Deterministic (seeded), so two runs write the same map. Every third customer has a webhook, every fourth an SMS
number, every tenth a support grant; US customers get a state, some are HIPAA covered entities. With
``--webhook-base`` the webhooks go to ``<base>/<customer id>`` (a local receiver) instead of made-up hosts.
"""

import argparse
import json
import random
import shutil
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = PROJECT_ROOT / "examples" / "datamap"

# region, share, (country, state, timezone, locale) choices
Place = tuple[str, str | None, str, str]
PLACES: list[tuple[str, float, list[Place]]] = [
    (
        "eu",
        0.30,
        [
            ("DE", None, "Europe/Berlin", "en"),
            ("SK", None, "Europe/Bratislava", "sk"),
            ("FR", None, "Europe/Paris", "en"),
            ("PH", None, "Asia/Manila", "fil"),
        ],
    ),
    ("uk", 0.15, [("GB", None, "Europe/London", "en")]),
    (
        "us",
        0.40,
        [
            ("US", "CA", "America/Los_Angeles", "en"),
            ("US", "NY", "America/New_York", "en"),
            ("US", "FL", "America/New_York", "en"),
            ("US", "CO", "America/Denver", "en"),
            ("US", "TX", "America/Chicago", "en"),
        ],
    ),
    ("sg", 0.15, [("SG", None, "Asia/Singapore", "en"), ("PH", None, "Asia/Manila", "fil")]),
]
FEATURES = ["helpdesk", "chat", "knowledge-base", "call-center"]


WEBHOOK_SECRET = "whsec_YmVuY2gtc2VjcmV0LWJlbmNoLXNlY3JldA=="  # noqa: S105 - a made-up bench secret


def customer(i: int, rng: random.Random, webhook_base: str | None = None) -> dict[str, object]:
    roll = rng.random()
    region, _, places = PLACES[-1]
    for candidate in PLACES:
        if roll < candidate[1]:
            region, _, places = candidate
            break
        roll -= candidate[1]
    country, state, zone, locale = rng.choice(places)
    cid = f"c{i:07d}"
    row: dict[str, object] = {
        "id": cid,
        "name": f"Customer {i} Ltd",
        "region": region,
        "country": country,
        "timezone": zone,
        "locale": locale,
        "features": sorted(rng.sample(FEATURES, rng.randint(1, 3))),
        "data_subjects": rng.randint(50, 200_000),
        "privacy_email": f"privacy@{cid}.example",
        "admin_emails": [f"admin@{cid}.example"],
    }
    if state:
        row["state"] = state
        row["covered_entity"] = i % 17 == 0
    if i % 3 == 0:
        row["webhook_url"] = f"{webhook_base}/{cid}" if webhook_base else f"https://hooks.{cid}.example/breachwire"
        row["webhook_secret"] = WEBHOOK_SECRET
    if i % 4 == 0:
        row["sms"] = f"+1555{i:07d}"
    if i % 10 == 0:
        row["grants"] = [{"subcontractor": "support-24x7", "valid_from": "2026-01-01T00:00:00+00:00"}]
    return row


def generate(directory: Path, customers: int, seed: int = 7, webhook_base: str | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(EXAMPLES / "subprocessors.toml", directory / "subprocessors.toml")
    rng = random.Random(seed)
    path = directory / "customers.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for i in range(customers):
            out.write(json.dumps(customer(i, rng, webhook_base), separators=(",", ":")) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--webhook-base", default=None, help="webhooks go to <base>/<customer id>")
    args = parser.parse_args()
    path = generate(args.directory, args.customers, webhook_base=args.webhook_base)
    print(f"{args.customers} customers written to {path}")


if __name__ == "__main__":
    main()
