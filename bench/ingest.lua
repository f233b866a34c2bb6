-- wrk script for `crossdock bench ingest --serve-for`: every request is a
-- new webstore order with its own event id, so none is a duplicate.
-- Not signed: the hub now refuses it (401) until this script signs its
-- requests (Standard Webhooks, see README "Signed webhooks").
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function request()
  counter = counter + 1
  local id = string.format("WRK-%d-%09d", tid, counter)
  local body = '{"order_id":"' .. id .. '","sequence":1,"status":"open",' ..
    '"updated_at":"2026-11-26T20:00:00Z","created_at":"2026-11-26T20:00:00Z","currency":"USD",' ..
    '"buyer":{"id":"B-1","email":"b1@example.com","name":"Bench Buyer","phone":null},' ..
    '"ship_to":{"name":"Bench Buyer","line1":"1 Main St","line2":null,"city":"Springfield","region":"IL","postal_code":"62701","country":"US"},' ..
    '"items":[{"line_id":"1","sku":"SKU-001","title":"Widget","quantity":2,"unit_price":"19.99","discount":"0.00","tax":"3.20"}],' ..
    '"shipping":"4.99","total":"48.17","service_level":"standard"}'
  return wrk.format("POST", nil, {["content-type"] = "application/json", ["x-webstore-event-id"] = id}, body)
end
