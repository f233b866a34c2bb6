// Restate on the peers' flow: service `orders`, handler `ingest`. The order
// is mapped in the handler; the two ERP calls are journaled steps
// (ctx.run): the Restate server records each result before the handler goes
// on, and a retried invocation replays them instead of calling again. The
// HTTP answer (ingress POST /orders/ingest) is the handler's result.
//
// Environment: ERP_URL, PEER_SERVICE_PORT. Run with NODE_PATH pointing at
// the cache's node_modules (run.sh does).

// The SDK (1.17) uses Promise.withResolvers, new in Node 22; Node 20 lacks it.
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers() {
    let resolve;
    let reject;
    const promise = new this((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}

const restate = require('@restatedev/restate-sdk');

const ERP_URL = process.env.ERP_URL;

async function erpPost(path, body) {
  const resp = await fetch(ERP_URL + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const answer = await resp.json();
  if (resp.status === 422) {
    // The ERP refused the document: retrying will not change its mind.
    throw new restate.TerminalError(`ERP ${path}: ${JSON.stringify(answer)}`);
  }
  if (!resp.ok) throw new Error(`ERP ${path}: ${resp.status}`);
  return answer;
}

function toErp(order) {
  const cents = (s) => Math.round(parseFloat(s) * 100);
  let total = cents(order.shipping);
  const lines = order.items.map((i) => {
    total += cents(i.unit_price) * i.quantity - cents(i.discount) + cents(i.tax);
    return { sku: i.sku, quantity: i.quantity, unit_price: i.unit_price, discount: i.discount, tax: i.tax };
  });
  const b = order.buyer;
  return {
    customer: { email: b.email, name: b.name, phone: b.phone, external_id: b.id },
    salesOrder: {
      reference: 'webstore:' + order.order_id,
      currency: order.currency,
      lines,
      shipping: order.shipping,
      total: (total / 100).toFixed(2),
    },
  };
}

const orders = restate.service({
  name: 'orders',
  handlers: {
    ingest: async (ctx, order) => {
      const { customer, salesOrder } = toErp(order);
      const customerId = await ctx.run('upsert-customer', async () => (await erpPost('/customers', customer)).id);
      const erpRef = await ctx.run(
        'create-sales-order',
        async () => (await erpPost('/sales-orders', { ...salesOrder, customer_id: customerId })).id,
      );
      return { accepted: true, order_id: order.order_id, erp_ref: erpRef };
    },
  },
});

// HTTP/2 cleartext on loopback only (the SDK's own listen() binds every interface).
const handler = restate.endpoint().bind(orders).http2Handler();
require('node:http2')
  .createServer(handler)
  .listen(Number(process.env.PEER_SERVICE_PORT || 9080), '127.0.0.1', () => console.log('restate peer: service ready'));
