//! The [`Store`] handle itself and how it is opened: the URL decides the
//! backend, SQLite gets its pragmas, its two pools and its checkpointer, and
//! pending migrations run. The queries live in one module per domain, each
//! with its own `impl Store`.

use std::sync::Arc;
use std::sync::Once;
use std::sync::atomic::AtomicI64;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor};

use crate::error::{Result, StoreError};
use crate::stock_changes::StockChanges;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The hub's durable state. Cheap to clone (pools are shared).
#[derive(Clone)]
pub struct Store {
    pub(crate) backend: Backend,
    /// All writes go through this pool. On SQLite it holds one connection,
    /// which serialises writers in the pool's queue; on PostgreSQL it is the
    /// same pool as `reader`.
    pub(crate) writer: AnyPool,
    pub(crate) reader: AnyPool,
    /// When `claim_jobs` last put expired leases back (ms, the caller's clock).
    pub(crate) last_reclaim: Arc<AtomicI64>,
    /// SKUs whose stock or reservations changed since the availability sync
    /// last looked (in memory: a full recompute at start covers a restart).
    pub(crate) stock_changes: Arc<StockChanges>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish()
    }
}

fn install_drivers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(sqlx::any::install_default_drivers);
}

impl Store {
    /// Open the store at `url` (`sqlite://PATH` or `postgres://…`) and apply
    /// pending migrations.
    pub async fn open(url: &str) -> Result<Store> {
        install_drivers();
        let store = if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest
                .trim_start_matches("//")
                .split('?')
                .next()
                .unwrap_or("");
            if let Some(parent) = std::path::Path::new(path)
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
            {
                std::fs::create_dir_all(parent).map_err(|e| {
                    StoreError::Corrupt(format!("cannot create {}: {e}", parent.display()))
                })?;
            }
            let url = if url.contains('?') {
                url.to_owned()
            } else {
                format!("{url}?mode=rwc")
            };
            let opts = |max| {
                AnyPoolOptions::new()
                    .max_connections(max)
                    .acquire_timeout(Duration::from_secs(60))
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            // WAL lets readers run beside the writer; NORMAL
                            // sync in WAL mode survives a process kill (the
                            // crash the hub must tolerate) at a fraction of
                            // FULL's fsync cost.
                            conn.execute(
                                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; \
                                 PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON; \
                                 PRAGMA cache_size=-65536; PRAGMA wal_autocheckpoint=0;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
            };
            let writer = opts(1).connect(&url).await?;
            let reader = opts(4).connect(&url).await?;
            // Checkpoints run beside the writer instead of inside whichever
            // commit crosses the WAL threshold, which is what made ingest's
            // tail latency spike.
            tokio::spawn(checkpoint_wal(reader.clone()));
            Store {
                backend: Backend::Sqlite,
                writer,
                reader,
                last_reclaim: Default::default(),
                stock_changes: Default::default(),
            }
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let pool = AnyPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(60))
                .connect(url)
                .await?;
            Store {
                backend: Backend::Postgres,
                writer: pool.clone(),
                reader: pool,
                last_reclaim: Default::default(),
                stock_changes: Default::default(),
            }
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Open the embedded store in `dir` (created if missing).
    pub async fn open_dir(dir: &std::path::Path) -> Result<Store> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Corrupt(format!("cannot create {}: {e}", dir.display())))?;
        Store::open(&format!("sqlite://{}", dir.join("crossdock.db").display())).await
    }

    pub async fn migrate(&self) -> Result<()> {
        match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&self.writer).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&self.writer).await?,
        }
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

/// Copy the WAL back into the database file once a second without blocking
/// the writer (PASSIVE), until the pool is closed.
async fn checkpoint_wal(pool: AnyPool) {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if pool.is_closed() {
            return;
        }
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            if pool.is_closed() {
                return;
            }
            tracing::warn!(error = %e, "WAL checkpoint failed; the next one tries again.");
        }
    }
}
