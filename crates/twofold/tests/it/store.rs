//! The schema and the invariants the database itself holds.

use twofold_app::RequestContext;
use twofold_app::domain::Role;
use twofold_app::setup::NewAccount;
use twofold_store::users::{self, NewUser};
use twofold_store::{Store, StoreError, accounts};

use crate::support::{PASSWORD, TestApp, TestDb};

on_both_databases!(
    migrations_run_twice_without_harm,
    one_owner_per_account_is_a_constraint,
    emails_are_unique_across_accounts,
    the_audit_log_refuses_edits_and_deletions,
    a_setup_link_works_once_under_concurrency,
);

async fn migrations_run_twice_without_harm(db: TestDb) {
    let store = db.store().await;
    store.migrate().await.unwrap();
    assert_eq!(store.schema_version().await.unwrap(), Some(Store::latest_version()));
}

async fn one_owner_per_account_is_a_constraint(db: TestDb) {
    let t = TestApp::new(db).await;
    let owner = t.account("acme").await;
    let mut conn = t.app.store().conn().await.unwrap();
    let second = NewUser {
        account_id: owner.account_id,
        email: "second@acme.test",
        name: "Second",
        role: Role::Owner,
        password_hash: None,
        now: 0,
    };
    let err = users::insert(&mut conn, &second).await.unwrap_err();
    assert!(matches!(err, StoreError::Unique(_)), "{err:?}");
    let other_account = accounts::insert(&mut conn, "Globex", 0).await.unwrap();
    let fine = NewUser { account_id: other_account, ..second };
    users::insert(&mut conn, &fine).await.unwrap();
}

async fn emails_are_unique_across_accounts(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let err = t
        .app
        .create_account(&NewAccount {
            account_name: "Other",
            owner_name: "Dup",
            owner_email: "OWNER@acme.test",
            password: PASSWORD,
        })
        .await
        .unwrap_err();
    assert!(matches!(err, twofold_app::Error::Conflict { code: "email_taken", .. }), "{err:?}");
    let mut conn = t.app.store().conn().await.unwrap();
    assert_eq!(accounts::count(&mut conn).await.unwrap(), 1, "the transaction left no empty account behind");
}

async fn the_audit_log_refuses_edits_and_deletions(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let mut conn = t.app.store().conn().await.unwrap();
    assert!(sqlx::query("UPDATE audit_events SET event = 'nothing'").execute(&mut *conn).await.is_err());
    assert!(sqlx::query("DELETE FROM audit_events").execute(&mut *conn).await.is_err());
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE event = 'account.created'")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(n, 1);
}

async fn a_setup_link_works_once_under_concurrency(db: TestDb) {
    let t = TestApp::new(db).await;
    let link = t.app.issue_setup_link().await.unwrap();
    let token = link.rsplit('/').next().unwrap().to_string();
    let mut tasks = Vec::new();
    for i in 0..10 {
        let app = t.app.clone();
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            let email = format!("owner{i}@acme.test");
            let new = NewAccount { account_name: "Acme", owner_name: "Ada", owner_email: &email, password: PASSWORD };
            app.complete_setup(&token, &new, &RequestContext::default()).await.is_ok()
        }));
    }
    let mut successes = 0;
    for task in tasks {
        successes += usize::from(task.await.unwrap());
    }
    assert_eq!(successes, 1);
    let mut conn = t.app.store().conn().await.unwrap();
    assert_eq!(accounts::count(&mut conn).await.unwrap(), 1);
}
