//! A throw-away Tryton 8.0 server for integration tests, started with
//! `scripts/tryton/up.sh` on a free loopback port with its own work
//! directory, and stopped (`scripts/tryton/down.sh`) when dropped.
//!
//! Other crates' tests include it with
//! `#[path = "../../../../connectors/tests/it/support/tryton_server.rs"] pub mod tryton_server;`
//! in their `tests/it/support/mod.rs`.
//! It needs only `std` and `serde_json`. [`TrytonRpc`] talks to the server
//! directly (blocking HTTP on a `TcpStream`), independently of the connector,
//! so a test can check what Tryton really holds.
//!
//! `CROSSDOCK_SKIP_TRYTON=1` makes [`TrytonServer::start`] return `None`;
//! otherwise a server that does not start fails the test with the script's
//! stderr.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

pub const DATABASE: &str = "crossdock";
pub const ADMIN_LOGIN: &str = "admin";
pub const ADMIN_PASSWORD: &str = "crossdock-admin";
/// Longest a single inspection call may take.
const RPC_TIMEOUT: Duration = Duration::from_secs(60);

pub struct TrytonServer {
    port: u16,
    work: PathBuf,
    scripts: PathBuf,
    fixture: Value,
    running: bool,
}

impl TrytonServer {
    /// Starts a fresh server (fresh database from the cached template).
    /// `None` only when `CROSSDOCK_SKIP_TRYTON=1`; a failure panics with the
    /// script's stderr.
    pub fn start() -> Option<TrytonServer> {
        if std::env::var("CROSSDOCK_SKIP_TRYTON").is_ok_and(|v| v == "1") {
            return None;
        }
        let scripts = scripts_dir();
        let port = free_port();
        let work = std::env::temp_dir().join(format!(
            "crossdock-tryton-test-{}-{port}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(&work)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", work.display()));
        let mut server = TrytonServer {
            port,
            work,
            scripts,
            fixture: Value::Null,
            running: false,
        };
        server.up(false);
        Some(server)
    }

    /// `http://127.0.0.1:<port>`: the connector's `url` option.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn database(&self) -> &'static str {
        DATABASE
    }

    /// The record ids `up.sh` printed (company, warehouse, web_shop, taxes,
    /// products by SKU, …).
    pub fn fixture(&self) -> &Value {
        &self.fixture
    }

    /// Id of product `sku` in the fixture.
    pub fn product_id(&self, sku: &str) -> i64 {
        self.fixture["products"][sku]
            .as_i64()
            .unwrap_or_else(|| panic!("fixture has no product {sku}: {}", self.fixture))
    }

    /// Stops the server; the database stays in the work directory.
    pub fn stop(&mut self) {
        if !self.running {
            return;
        }
        let output = self.run("down.sh", &[]);
        self.running = false;
        if !output.status.success() {
            panic!(
                "scripts/tryton/down.sh failed ({}):\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }

    /// Stops the server and starts it again on the same port and work
    /// directory, keeping the database (`TRYTON_KEEP_DB=1`): sessions and
    /// every record survive, as after a crash of the ERP.
    pub fn restart(&mut self) {
        self.stop();
        self.up(true);
    }

    /// Stops the server and starts it again on the same port with a fresh
    /// database from the template: every session and record is gone.
    pub fn reset(&mut self) {
        self.stop();
        self.up(false);
    }

    /// A logged-in inspection client.
    pub fn rpc(&self) -> TrytonRpc {
        TrytonRpc::login(self.port, ADMIN_LOGIN, ADMIN_PASSWORD)
            .unwrap_or_else(|e| panic!("cannot log in to Tryton on port {}: {e}", self.port))
    }

    fn up(&mut self, keep_db: bool) {
        let extra: &[(&str, &str)] = if keep_db {
            &[("TRYTON_KEEP_DB", "1")]
        } else {
            &[]
        };
        let output = self.run("up.sh", extra);
        if !output.status.success() {
            panic!(
                "scripts/tryton/up.sh failed ({}) on port {}:\n{}",
                output.status,
                self.port,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        self.running = true;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let last = stdout.lines().rev().find(|l| !l.trim().is_empty());
        self.fixture = last
            .and_then(|l| serde_json::from_str(l).ok())
            .unwrap_or_else(|| {
                panic!(
                    "scripts/tryton/up.sh printed no fixture JSON as its last line:\n{stdout}\n{}",
                    String::from_utf8_lossy(&output.stderr)
                )
            });
    }

    fn run(&self, script: &str, extra: &[(&str, &str)]) -> Output {
        let path = self.scripts.join(script);
        Command::new("bash")
            .arg(&path)
            .env("TRYTON_PORT", self.port.to_string())
            .env("TRYTON_WORK", &self.work)
            .env("TRYTON_DB", DATABASE)
            .envs(extra.iter().copied())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display()))
    }
}

impl Drop for TrytonServer {
    fn drop(&mut self) {
        if self.running {
            let output = self.run("down.sh", &[]);
            self.running = false;
            if !output.status.success() {
                // Not a panic: Drop may run while a test is already unwinding.
                let _ = writeln!(
                    std::io::stderr(),
                    "scripts/tryton/down.sh failed: {}",
                    String::from_utf8_lossy(&output.stderr)
                );
                return;
            }
        }
        let _ = std::fs::remove_dir_all(&self.work);
    }
}

/// `scripts/tryton` of the workspace holding the crate under test.
fn scripts_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .map(|dir| dir.join("scripts").join("tryton"))
        .find(|dir| dir.join("up.sh").is_file())
        .unwrap_or_else(|| {
            panic!(
                "no scripts/tryton/up.sh above {} (set CROSSDOCK_SKIP_TRYTON=1 to skip Tryton tests)",
                manifest.display()
            )
        })
}

/// A port nobody listens on right now (the OS picks it).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("cannot bind a loopback port");
    listener.local_addr().expect("no local address").port()
}

/// A minimal JSON-RPC client for looking at Tryton from a test.
pub struct TrytonRpc {
    port: u16,
    authorization: String,
    context: Value,
    next_id: AtomicU64,
}

impl TrytonRpc {
    pub fn login(port: u16, login: &str, password: &str) -> Result<TrytonRpc, String> {
        let mut rpc = TrytonRpc {
            port,
            authorization: String::new(),
            context: json!({}),
            next_id: AtomicU64::new(1),
        };
        let answer = rpc.call(
            "common.db.login",
            vec![json!(login), json!({ "password": password }), json!("en")],
        )?;
        let user = answer[0].as_i64().ok_or("login answered no user id")?;
        let key = answer[1].as_str().ok_or("login answered no session key")?;
        rpc.authorization = format!(
            "Session {}",
            base64(format!("{login}:{user}:{key}").as_bytes())
        );
        let preferences = rpc.call(
            "model.res.user.get_preferences",
            vec![json!(true), json!({})],
        )?;
        rpc.context = json!({
            "company": preferences["company"],
            "company_filter": "one",
            "language": preferences["language"],
        });
        Ok(rpc)
    }

    /// One raw call: `params` as given. `Err` carries Tryton's error array or
    /// the HTTP status.
    pub fn call(&self, method: &str, params: Vec<Value>) -> Result<Value, String> {
        let body = json!({
            "id": self.next_id.fetch_add(1, Ordering::Relaxed),
            "method": method,
            "params": params,
        })
        .to_string();
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))
            .map_err(|e| format!("connect to port {}: {e}", self.port))?;
        stream.set_read_timeout(Some(RPC_TIMEOUT)).ok();
        let mut request = format!(
            "POST /{DATABASE}/rpc/ HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.port,
            body.len()
        );
        if !self.authorization.is_empty() {
            request.push_str(&format!("Authorization: {}\r\n", self.authorization));
        }
        request.push_str("\r\n");
        request.push_str(&body);
        stream
            .write_all(request.as_bytes())
            .map_err(|e| format!("send {method}: {e}"))?;
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .map_err(|e| format!("read answer to {method}: {e}"))?;
        let text = String::from_utf8_lossy(&raw);
        let (head, payload) = text
            .split_once("\r\n\r\n")
            .ok_or_else(|| format!("{method}: malformed HTTP answer: {text}"))?;
        let status = head.split_whitespace().nth(1).unwrap_or("?");
        // Larger answers come chunked.
        let chunked = head
            .lines()
            .any(|l| l.to_ascii_lowercase().replace(' ', "") == "transfer-encoding:chunked");
        let dechunked;
        let payload = if chunked {
            dechunked = dechunk(payload).ok_or_else(|| format!("{method}: bad chunks: {text}"))?;
            dechunked.as_str()
        } else {
            payload
        };
        if status != "200" {
            return Err(format!("{method}: HTTP {status}: {payload}"));
        }
        let mut answer: Value = serde_json::from_str(payload)
            .map_err(|e| format!("{method}: unreadable answer ({e}): {payload}"))?;
        if let Some(error) = answer.get("error") {
            return Err(format!("{method}: {error}"));
        }
        Ok(answer["result"].take())
    }

    /// `model.<model>.<method>` with the user's context (plus `extra`) last.
    pub fn model_with(
        &self,
        model: &str,
        method: &str,
        mut args: Vec<Value>,
        extra: Value,
    ) -> Value {
        let mut context = self.context.clone();
        if let (Some(context), Value::Object(extra)) = (context.as_object_mut(), extra) {
            context.extend(extra);
        }
        args.push(context);
        let name = format!("model.{model}.{method}");
        self.call(&name, args).unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn model(&self, model: &str, method: &str, args: Vec<Value>) -> Value {
        self.model_with(model, method, args, json!({}))
    }

    /// `search_read`, oldest first.
    pub fn search_read(&self, model: &str, domain: Value, fields: &[&str]) -> Vec<Value> {
        let answer = self.model(
            model,
            "search_read",
            vec![
                domain,
                json!(0),
                Value::Null,
                json!([["id", "ASC"]]),
                json!(fields),
            ],
        );
        answer.as_array().cloned().unwrap_or_default()
    }

    pub fn read(&self, model: &str, id: i64, fields: &[&str]) -> Value {
        let answer = self.model(model, "read", vec![json!([id]), json!(fields)]);
        answer[0].clone()
    }

    /// How many sales carry `reference`.
    pub fn count_sales(&self, reference: &str) -> usize {
        let count = self.model(
            "sale.sale",
            "search_count",
            vec![json!([["reference", "=", reference]])],
        );
        count
            .as_u64()
            .unwrap_or_else(|| panic!("search_count gave {count}")) as usize
    }

    /// A sale with its state, party, amounts, lines, shipments and invoices.
    pub fn sale(&self, id: i64) -> Value {
        self.read(
            "sale.sale",
            id,
            &[
                "state",
                "party",
                "reference",
                "web_id",
                "shipment_state",
                "invoice_state",
                "untaxed_amount",
                "tax_amount",
                "total_amount",
                "lines",
                "shipments",
                "invoices",
            ],
        )
    }

    /// The sale's lines: product, description, quantity, unit_price, taxes, amount.
    pub fn sale_lines(&self, id: i64) -> Vec<Value> {
        self.search_read(
            "sale.line",
            json!([["sale", "=", id]]),
            &[
                "product",
                "description",
                "quantity",
                "unit_price",
                "taxes",
                "amount",
            ],
        )
    }

    pub fn shipment(&self, id: i64) -> Value {
        self.read("stock.shipment.out", id, &["state", "moves"])
    }

    pub fn invoice(&self, id: i64) -> Value {
        self.read(
            "account.invoice",
            id,
            &[
                "state",
                "reference",
                "number",
                "untaxed_amount",
                "tax_amount",
                "total_amount",
                "lines",
            ],
        )
    }

    /// Units of `sku` on hand in warehouse `warehouse` (done moves only).
    pub fn product_quantity(&self, sku: &str, warehouse: i64) -> f64 {
        let rows = self.model_with(
            "product.product",
            "search_read",
            vec![
                json!([["code", "=", sku]]),
                json!(0),
                json!(1),
                Value::Null,
                json!(["quantity"]),
            ],
            json!({ "locations": [warehouse], "with_childs": true }),
        );
        rows[0]["quantity"]
            .as_f64()
            .unwrap_or_else(|| panic!("no quantity for {sku}: {rows}"))
    }
}

/// The body of a `Transfer-Encoding: chunked` answer: hex size, CRLF,
/// data, CRLF, until a zero size.
fn dechunk(mut rest: &str) -> Option<String> {
    let mut body = String::new();
    loop {
        let (size, after) = rest.split_once("\r\n")?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            return Some(body);
        }
        body.push_str(after.get(..size)?);
        rest = after.get(size..)?.strip_prefix("\r\n")?;
    }
}

/// The text of a Tryton Decimal (`{"__class__": "Decimal", "decimal": "12.50"}`).
pub fn decimal_text(value: &Value) -> &str {
    value["decimal"]
        .as_str()
        .unwrap_or_else(|| panic!("not a Tryton Decimal: {value}"))
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            out.push(if i <= chunk.len() {
                char::from(ALPHABET[((n >> shift) & 63) as usize])
            } else {
                '='
            });
        }
    }
    out
}
