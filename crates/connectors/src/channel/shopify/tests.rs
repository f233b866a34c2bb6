use reqwest::header::{HeaderMap, HeaderValue, LINK};

use super::fulfillment::id_json;
use super::orders::next_page_info;

fn link(value: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(LINK, HeaderValue::from_str(value).unwrap());
    h
}

#[test]
fn reads_the_next_cursor_verbatim() {
    let both = "<https://s.myshopify.com/admin/api/2025-07/orders.json?limit=250&page_info=prev%3D>; rel=\"previous\", \
                <https://s.myshopify.com/admin/api/2025-07/orders.json?limit=250&page_info=eyJ-_x%3D%3D>; rel=\"next\"";
    assert_eq!(next_page_info(&link(both)).as_deref(), Some("eyJ-_x%3D%3D"));
    let prev_only =
        "<https://s/admin/api/2025-07/orders.json?page_info=abc&limit=250>; rel=\"previous\"";
    assert_eq!(next_page_info(&link(prev_only)), None);
    assert_eq!(next_page_info(&HeaderMap::new()), None);
    let first = "<http://127.0.0.1:1/orders.json?page_info=abc&limit=250>; rel=next";
    assert_eq!(next_page_info(&link(first)).as_deref(), Some("abc"));
}

#[test]
fn ids_go_back_exactly() {
    assert_eq!(id_json("820982911946154508").get(), "820982911946154508");
    assert_eq!(id_json("gid://x").get(), "\"gid://x\"");
}

#[test]
fn a_fresh_rest_budget_lets_one_probe_through_until_shopify_answers() {
    use super::client::{REST_BUCKET_SIZE, REST_LEAK_PER_SEC, REST_MARGIN, rest_bucket};
    use crossdock_model::{Clock, ManualClock};
    let clock = ManualClock::new(0);
    let now = clock.instant();
    let mut budget = rest_bucket(&clock);
    assert_eq!(
        budget.reserve(1.0, REST_MARGIN, now),
        None,
        "the probe goes"
    );
    assert!(
        budget.reserve(1.0, REST_MARGIN, now).is_some(),
        "a second call before any answer waits: the bucket may be full"
    );
    budget.refund(1.0);
    // The probe's answer: `X-Shopify-Shop-Api-Call-Limit: 1/40`.
    budget.observe(1.0, REST_BUCKET_SIZE, REST_LEAK_PER_SEC, now);
    assert_eq!(
        budget.reserve(1.0, REST_MARGIN, now),
        None,
        "room given back"
    );
}
