//! Test support: a fresh, migrated database per test, on the real PostgreSQL
//! (`TD_TEST_POSTGRES_URL`, default the local server) or on a SQLite file; reading PDFs
//! ([`pdf`]); a real SMTP server ([`smtp`]). Used by tests only; never a dependency of a
//! binary.

pub mod pdf;
pub mod smtp;

use sea_orm::{ConnectionTrait, Database};
use std::time::Duration;
use td_store::DatabaseConnection;

/// The server tests create their databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("TD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A migrated database of its own for one test.
pub struct TestDb {
    pub db: DatabaseConnection,
    pub url: String,
}

/// A new PostgreSQL database named `td_test_<random>`, migrated. The test script drops
/// leftovers.
pub async fn postgres() -> TestDb {
    let t = postgres_empty().await;
    td_store::migrate(&t.db)
        .await
        .expect("migrate test database");
    t
}

/// A new PostgreSQL database without any table, for tests of migrating itself.
pub async fn postgres_empty() -> TestDb {
    let admin_url = postgres_admin_url();
    let name = format!("td_test_{}", uuid::Uuid::new_v4().simple());
    let admin = Database::connect(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {admin_url} must be running for tests: {e}"));
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create test database");
    admin.close().await.ok();
    let base = admin_url
        .rsplit_once('/')
        .map(|(b, _)| b.to_owned())
        .unwrap_or(admin_url);
    let url = format!("{base}/{name}");
    let db = td_store::connect(&url, 5, Duration::from_secs(10), None)
        .await
        .expect("connect test database");
    TestDb { db, url }
}

/// A new SQLite database in a file of its own.
pub async fn sqlite() -> TestDb {
    let path =
        std::env::temp_dir().join(format!("td-test-{}.sqlite", uuid::Uuid::new_v4().simple()));
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let db = td_store::connect(&url, 1, Duration::from_secs(10), None)
        .await
        .expect("open test sqlite");
    td_store::migrate(&db).await.expect("migrate test sqlite");
    TestDb { db, url }
}
