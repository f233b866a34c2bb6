#!/usr/bin/env python3
"""Writes seed inputs for one fuzz target from the shared reference samples.

    seeds.py TARGET REFERENCE_DIR OUT_DIR

The samples (Shopify Admin REST examples and python-api fixtures, Amazon
SP-API ordersV0 sandbox examples, Walmart Marketplace OpenAPI examples) are
not ours to commit: run.sh calls this at run time into the gitignored
corpus/. Each order found becomes one payload in the shape the translator
reads: Shopify `{"order": {...}}`, Amazon `{"order": <Order>, "items":
<OrderItems payload>}`, Walmart `{"order": {...}}` (for marketplace_orders,
and for mapped_payload as foreign-shaped JSON beside the committed webstore
seeds). mapped_mapping gets our own mapping files and their expressions.
Prints how many it wrote.
"""
import json
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent


def walk(value):
    yield value
    if isinstance(value, dict):
        for v in value.values():
            yield from walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from walk(v)


def load(path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def orders(ref):
    out = []
    for folder in ("shopify-admin-rest-examples-2025-07", "shopify-python-api-fixtures"):
        for name in ("order.json", "orders.json"):
            doc = load(ref / folder / name)
            for v in walk(doc):
                if isinstance(v, dict) and "line_items" in v and "id" in v:
                    out.append(("shopify", {"order": v}))
    amazon = load(ref / "amazon-sp-api-models/examples-extracted/ordersV0-sandbox-static-examples.json")
    if amazon:
        heads = [v for v in walk(amazon) if isinstance(v, dict) and "AmazonOrderId" in v and "OrderStatus" in v]
        items = [v for v in walk(amazon) if isinstance(v, dict) and "OrderItems" in v]
        for h in heads:
            same = [i for i in items if i.get("AmazonOrderId") == h["AmazonOrderId"]] or items[:1]
            for i in same:
                out.append(("amazon", {"order": h, "items": i}))
    walmart = load(ref / "walmart-marketplace-openapi-us/examples-extracted/orders-examples.json")
    for v in walk(walmart):
        if isinstance(v, dict) and "purchaseOrderId" in v and "orderLines" in v:
            out.append(("walmart", {"order": v}))
    return out


def main():
    target, ref, out = sys.argv[1], pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
    out.mkdir(parents=True, exist_ok=True)
    n = 0
    if target in ("marketplace_orders", "mapped_payload"):
        seen = set()
        for kind, payload in orders(ref):
            text = json.dumps(payload, indent=1)
            if text in seen:
                continue
            seen.add(text)
            (out / f"seed-{kind}-{len(seen):03}.json").write_text(text)
            n += 1
    if target == "mapped_payload":
        # Our own wire format (the simulated webstore), committed beside.
        for f in sorted((HERE / "seeds/mapped_payload").glob("*.json")):
            (out / f"seed-{f.name}").write_text(f.read_text())
            n += 1
    if target == "mapped_mapping":
        # Our mapping files (not reference material): each whole, and each
        # of their expressions on its own (the target also puts the input
        # into one expression field of the shipped mapping).
        import tomllib

        files = [HERE / "../../../config/channels/regional.toml", *sorted((HERE / "mappings").glob("*.toml"))]
        exprs = set()
        for f in files:
            text = f.read_text()
            (out / f"seed-{f.stem}.toml").write_text(text)
            n += 1
            for v in walk(tomllib.loads(text)):
                if isinstance(v, str) and v.strip():
                    exprs.add(v)
        for i, e in enumerate(sorted(exprs)):
            (out / f"seed-expr-{i:03}.jq").write_text(e)
            n += 1
    print(n)


main()
