//! Test databases for the conformance suite: a fresh SQLite file in a temp
//! dir, or a fresh PostgreSQL database created through the admin URL.

use std::time::Duration;

use crossdock_store::Store;
use sqlx::Connection;

/// Admin URL used to create and drop the per-test PostgreSQL databases.
pub const DEFAULT_PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// One fresh database with an open store on it.
pub struct TestDb {
    pub store: Store,
    /// URL of the same database, for opening more handles.
    pub url: String,
    // Dropped after `store`: removes the SQLite file / PostgreSQL database.
    _cleanup: Cleanup,
}

/// Held only for its `Drop`.
enum Cleanup {
    Sqlite { _dir: tempfile::TempDir },
    Postgres { _db: PgDrop },
}

impl TestDb {
    /// A fresh SQLite database in its own temp dir, opened with `open_dir`.
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open_dir(dir.path())
            .await
            .expect("open sqlite store");
        let url = format!("sqlite://{}", dir.path().join("crossdock.db").display());
        TestDb {
            store,
            url,
            _cleanup: Cleanup::Sqlite { _dir: dir },
        }
    }

    /// A fresh PostgreSQL database, or `None` (with a note) when
    /// `CROSSDOCK_SKIP_PG=1`. Panics when PostgreSQL is unreachable.
    pub async fn postgres() -> Option<TestDb> {
        if std::env::var("CROSSDOCK_SKIP_PG").is_ok_and(|v| v == "1") {
            eprintln!("note: CROSSDOCK_SKIP_PG=1, skipping the PostgreSQL run of this scenario");
            return None;
        }
        let admin = std::env::var("CROSSDOCK_TEST_PG_URL")
            .unwrap_or_else(|_| DEFAULT_PG_ADMIN_URL.to_owned());
        let name = format!("crossdock_test_{}", uuid::Uuid::now_v7().simple());
        let mut conn = match tokio::time::timeout(
            Duration::from_secs(10),
            sqlx::PgConnection::connect(&admin),
        )
        .await
        {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => panic!(
                "PostgreSQL unreachable at {admin} ({e}); start it, set CROSSDOCK_TEST_PG_URL, \
                 or set CROSSDOCK_SKIP_PG=1 to skip the PostgreSQL runs"
            ),
            Err(_) => panic!(
                "PostgreSQL at {admin} did not answer within 10 s; set CROSSDOCK_SKIP_PG=1 to skip"
            ),
        };
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        let _ = conn.close().await;
        // From here on the database is dropped even if the scenario panics.
        let cleanup = Cleanup::Postgres {
            _db: PgDrop {
                admin: admin.clone(),
                name: name.clone(),
            },
        };
        let url = database_url(&admin, &name);
        let store = Store::open(&url).await.expect("open postgres store");
        Some(TestDb {
            store,
            url,
            _cleanup: cleanup,
        })
    }

    /// Another handle (own pools) on the same database, as a second hub
    /// process would open it.
    pub async fn open_another(&self) -> Store {
        Store::open(&self.url).await.expect("open second handle")
    }

    pub async fn finish(self) {
        self.store.close().await;
    }
}

/// Replace the database name in a postgres URL, keeping any query string.
pub fn database_url(admin: &str, name: &str) -> String {
    let (base, query) = match admin.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (admin, String::new()),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    format!("{base}/{name}{query}")
}

/// Drops a test database, best-effort, when the test ends (also on panic).
struct PgDrop {
    admin: String,
    name: String,
}

impl Drop for PgDrop {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // A fresh runtime on its own thread: this may run inside (or while
        // unwinding out of) the test's runtime.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let fut = async {
                    let mut conn = sqlx::PgConnection::connect(&admin).await?;
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .execute(&mut conn)
                        .await?;
                    conn.close().await
                };
                let _ = tokio::time::timeout(Duration::from_secs(10), fut).await;
            });
        })
        .join();
    }
}

#[test]
fn database_url_replaces_the_database_name() {
    assert_eq!(
        database_url("postgres://postgres@127.0.0.1:5432/postgres", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        database_url("postgres://u@h:1/db?sslmode=disable", "x"),
        "postgres://u@h:1/x?sslmode=disable"
    );
    assert_eq!(database_url("postgresql://u@h", "x"), "postgresql://u@h/x");
}
