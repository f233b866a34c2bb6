//! The store's one error type. A leaf: every other module of the crate
//! returns [`Result`], and none of them is needed to define it.

/// Errors from the store. The engine treats all of them as transient: the
/// job that hit one is retried.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored document is unreadable: {0}")]
    Corrupt(String),
    #[error("lease on job {0} was lost to another worker")]
    LeaseLost(i64),
    #[error("unsupported database url {0:?} (use sqlite://PATH or postgres://…)")]
    UnsupportedUrl(String),
    /// The write would break a uniqueness rule (a live API key's name).
    #[error("{0}")]
    Conflict(String),
    /// The caller asked for something the store cannot hold.
    #[error("{0}")]
    Invalid(String),
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
