"""Temporal on the peers' flow: an HTTP front that starts one workflow per
order and answers with its result, and the worker, in one process.

The workflow maps the order (deterministic workflow code) and runs two
activities: upsert the buyer as an ERP customer, then create the ERP sales
order. Each step is recorded in the workflow's history by the Temporal
server (SQLite) before the next one runs; the HTTP answer waits for the
workflow's result.

Environment: TEMPORAL_ADDRESS (127.0.0.1:7233), ERP_URL, PEER_PORT.
"""

import asyncio
import os
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import aiohttp
from aiohttp import web
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.worker import Worker
from temporalio.worker import UnsandboxedWorkflowRunner

TASK_QUEUE = "crossdock-peer-orders"
ERP_URL = os.environ["ERP_URL"]

_session: aiohttp.ClientSession | None = None


async def _erp_post(path: str, body: dict) -> dict:
    assert _session is not None
    async with _session.post(ERP_URL + path, json=body) as resp:
        answer = await resp.json(content_type=None)
        if resp.status >= 400:
            raise RuntimeError(f"ERP {path}: {resp.status} {answer}")
        return answer


@activity.defn
async def upsert_customer(customer: dict) -> str:
    return (await _erp_post("/customers", customer))["id"]


@activity.defn
async def create_sales_order(sales_order: dict) -> str:
    return (await _erp_post("/sales-orders", sales_order))["id"]


def to_erp(order: dict) -> tuple[dict, dict]:
    total = Decimal(order["shipping"])
    lines = []
    for i in order["items"]:
        total += Decimal(i["unit_price"]) * i["quantity"] - Decimal(i["discount"]) + Decimal(i["tax"])
        lines.append({k: i[k] for k in ("sku", "quantity", "unit_price", "discount", "tax")})
    buyer = order["buyer"]
    customer = {"email": buyer["email"], "name": buyer["name"], "phone": buyer["phone"], "external_id": buyer["id"]}
    sales_order = {
        "reference": "webstore:" + order["order_id"],
        "currency": order["currency"],
        "lines": lines,
        "shipping": order["shipping"],
        "total": str(total.quantize(Decimal("0.01"))),
    }
    return customer, sales_order


@workflow.defn
class OrderToErp:
    @workflow.run
    async def run(self, order: dict) -> dict:
        customer, sales_order = to_erp(order)
        opts = dict(
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_attempts=5),
        )
        sales_order["customer_id"] = await workflow.execute_activity(upsert_customer, customer, **opts)
        erp_ref = await workflow.execute_activity(create_sales_order, sales_order, **opts)
        return {"accepted": True, "order_id": order["order_id"], "erp_ref": erp_ref}


async def main() -> None:
    global _session
    _session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64))
    client = await Client.connect(os.environ.get("TEMPORAL_ADDRESS", "127.0.0.1:7233"))

    async def orders(request: web.Request) -> web.Response:
        order = await request.json()
        try:
            result = await client.execute_workflow(
                OrderToErp.run,
                order,
                # One workflow per order: a redelivered order is not run twice.
                id=f"order-{order['order_id']}",
                task_queue=TASK_QUEUE,
            )
        except Exception as e:  # the workflow failed: the order was not accepted
            return web.json_response({"accepted": False, "error": str(e)}, status=502)
        return web.json_response(result)

    app = web.Application()
    app.router.add_post("/orders", orders)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", int(os.environ.get("PEER_PORT", "8088"))).start()
    # The SDK's default sandbox re-imports workflow modules per run and costs
    # several times the throughput on this machine; the workflow code is
    # deterministic without it.
    async with Worker(
        client,
        task_queue=TASK_QUEUE,
        workflows=[OrderToErp],
        activities=[upsert_customer, create_sales_order],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        print("temporal peer: ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
