//! The audit log (SEC-30): a hash chain per account that shows any edit or deletion,
//! `twofold audit verify`, and the filtered page, API and exports for Owners and
//! Administrators.

use std::process::Command;

use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, Connection, Executor};
use twofold_app::Person;
use twofold_app::audit::{ChainBreak, ChainProblem, ChainReport};
use twofold_app::domain::Role;
use twofold_store::audit::{self, NewEvent, chain};
use twofold_store::{Backend, sqlite_url_in};

use crate::support::server::{Server, binary};
use crate::support::{Http, PASSWORD, TestApp, TestDb};

on_both_databases!(
    sec_30_the_chain_links_every_event_of_an_account,
    sec_30_an_edited_row_is_named_by_verify,
    sec_30_a_deleted_middle_row_is_detected,
    sec_30_a_deleted_last_row_is_detected,
    sec_30_concurrent_appends_never_fork_the_chain,
    sec_30_a_chain_rewritten_without_the_key_is_detected,
    sec_30_chains_from_before_the_key_are_sealed_once_and_stay_checkable,
    sec_30_a_checkpoint_reveals_a_whole_chain_rewritten_even_with_the_key,
    audit_api_filters_by_person_event_type_and_dates,
    audit_exports_csv_and_json_for_managers_of_the_account_only,
    audit_page_filters_pages_and_is_for_managers_only,
);

/// 2027-01-15, the day the test clock starts on.
const DAY_15: i64 = 1_800_000_000 - 8 * 3600;
const DAY: i64 = 86_400;

/// One link as stored: (id, seq, prev_hash, hash).
type Link = (i64, i64, String, String);

async fn links(t: &TestApp, account_id: i64) -> Vec<Link> {
    let mut conn = t.app.store().conn().await.unwrap();
    sqlx::query_as("SELECT id, seq, prev_hash, hash FROM audit_events WHERE account_id = $1 ORDER BY seq")
        .bind(account_id)
        .fetch_all(&mut *conn)
        .await
        .unwrap()
}

async fn head(t: &TestApp, chain: i64) -> (i64, String) {
    let mut conn = t.app.store().conn().await.unwrap();
    sqlx::query_as("SELECT seq, last_hash FROM audit_chain_heads WHERE chain = $1")
        .bind(chain)
        .fetch_one(&mut *conn)
        .await
        .unwrap()
}

/// Runs `sql` the way someone with the database's password would: append-only trigger off.
async fn tamper(t: &TestApp, sql: &str) {
    let mut conn = t.app.store().conn().await.unwrap();
    match t.app.store().backend() {
        Backend::Sqlite => {
            (&mut *conn).execute("DROP TRIGGER IF EXISTS audit_events_no_update").await.unwrap();
            (&mut *conn).execute("DROP TRIGGER IF EXISTS audit_events_no_delete").await.unwrap();
        }
        Backend::Postgres => {
            (&mut *conn).execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update").await.unwrap();
        }
    }
    let done = (&mut *conn).execute(AssertSqlSafe(sql.to_string())).await.unwrap();
    assert_eq!(done.rows_affected(), 1, "{sql}");
}

async fn verify(t: &TestApp) -> ChainReport {
    t.app.verify_audit_log(None).await.unwrap()
}

/// An account with an Administrator and a User, some sign-ins and a failed one.
async fn busy_account(t: &TestApp, slug: &str) -> (Person, Person, Person) {
    let owner = t.account(slug).await;
    let admin = t.person(&owner, &format!("admin@{slug}.test"), Role::Admin).await;
    let user = t.person(&owner, &format!("user@{slug}.test"), Role::User).await;
    t.signed_in(&format!("admin@{slug}.test")).await;
    wrong_password(t, &format!("user@{slug}.test")).await;
    t.signed_in(&format!("user@{slug}.test")).await;
    (owner, admin, user)
}

async fn wrong_password(t: &TestApp, email: &str) {
    wrong_password_on(&t.http(), email).await;
}

async fn wrong_password_on(http: &Http, email: &str) {
    let r = http.post_json("/api/v1/login", &json!({ "email": email, "password": "not the password" })).await;
    assert_eq!(r.status, 401, "{}", r.text());
}

async fn sec_30_the_chain_links_every_event_of_an_account(db: TestDb) {
    let t = TestApp::new(db).await;
    let (acme, ..) = busy_account(&t, "acme").await;
    let (globex, ..) = busy_account(&t, "globex").await;
    wrong_password(&t, "nobody@nowhere.test").await;

    for account in [acme.account_id, globex.account_id] {
        let chain = links(&t, account).await;
        let total = t.events(account).await.len();
        assert!(total >= 8, "{total} events");
        assert_eq!(chain.len(), total, "every event of the account is a link");
        let seqs: Vec<i64> = chain.iter().map(|l| l.1).collect();
        assert_eq!(seqs, (1..=total as i64).collect::<Vec<_>>(), "each account's chain counts from 1 without gaps");
        assert_eq!(chain[0].2, chain::GENESIS);
        for pair in chain.windows(2) {
            assert_eq!(pair[1].2, pair[0].3, "row {} points at the hash of row {}", pair[1].0, pair[0].0);
        }
        // Keyed links: `k<key id>:` and 64 hex digits of HMAC-SHA256.
        let keyed = |h: &str| {
            h.split_once(':').is_some_and(|(k, hex)| {
                k.starts_with('k') && hex.len() == 64 && hex.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f'))
            })
        };
        assert!(chain.iter().all(|l| keyed(&l.3)), "{chain:?}");
        assert_eq!(head(&t, account).await, (total as i64, chain.last().unwrap().3.clone()));
    }
    // The unknown email has no account: its event opens chain 0.
    assert_eq!(head(&t, 0).await.0, 1);

    let report = verify(&t).await;
    assert!(report.is_intact(), "{:?}", report.breaks);
    assert_eq!(report.chains, 3);
    let all: i64 = {
        let mut conn = t.app.store().conn().await.unwrap();
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_events").fetch_one(&mut *conn).await.unwrap()
    };
    assert_eq!(report.events as i64, all);
}

async fn sec_30_an_edited_row_is_named_by_verify(db: TestDb) {
    let t = TestApp::new(db).await;
    let (acme, ..) = busy_account(&t, "acme").await;
    let (globex, ..) = busy_account(&t, "globex").await;
    let acme_chain = links(&t, acme.account_id).await;
    let (edited, seq) = (acme_chain[3].0, acme_chain[3].1);
    tamper(&t, &format!("UPDATE audit_events SET detail = '{{\"forged\":true}}' WHERE id = {edited}")).await;

    let report = verify(&t).await;
    let expected = ChainBreak { chain: acme.account_id, row_id: Some(edited), seq, problem: ChainProblem::Edited };
    assert_eq!(report.breaks, vec![expected.clone()], "exactly the edited row, and only in its own chain");
    assert_eq!(
        expected.to_string(),
        format!("chain of account {}: row {edited} (seq {seq}) was changed after it was written", acme.account_id)
    );

    // Rewriting the row's hash to fit its new contents takes the key: without it, the
    // unkeyed hash anyone can compute is refused where it stands...
    let globex_chain = links(&t, globex.account_id).await;
    let (id, next) = (globex_chain[2].0, globex_chain[3].0);
    let unkeyed = forged_hash(&t, id, r#"{"forged":true}"#, false).await;
    let sql = format!(r#"UPDATE audit_events SET detail = '{{"forged":true}}', hash = '{unkeyed}' WHERE id = {id}"#);
    tamper(&t, &sql).await;
    let report = verify(&t).await;
    assert_eq!(report.breaks.len(), 2);
    assert_eq!((report.breaks[1].row_id, report.breaks[1].problem), (Some(id), ChainProblem::Unkeyed));
    // ...and with it, the break only moves to the row after, which points at the old hash.
    let keyed = forged_hash(&t, id, r#"{"forged":true}"#, true).await;
    tamper(&t, &format!("UPDATE audit_events SET hash = '{keyed}' WHERE id = {id}")).await;
    let report = verify(&t).await;
    assert_eq!((report.breaks[1].row_id, report.breaks[1].problem), (Some(next), ChainProblem::Relinked));
}

/// The hash row `id` would have with `detail` instead of its own: unkeyed, as anyone with
/// the database can compute it, or keyed, as only a holder of the keyring can.
async fn forged_hash(t: &TestApp, id: i64, detail: &str, keyed: bool) -> String {
    type Fields = (Option<i64>, i64, Option<i64>, Option<i64>, String, Option<String>, Option<String>, i64, String);
    let mut conn = t.app.store().conn().await.unwrap();
    let (account, seq, actor, target, event, ip, user_agent, created_at, prev): Fields = sqlx::query_as(
        "SELECT account_id, seq, actor_user_id, target_user_id, event, ip, user_agent, created_at, prev_hash
         FROM audit_events WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    let link = chain::Link {
        chain: chain::chain_of(account),
        seq,
        actor,
        target,
        event: &event,
        detail,
        ip: ip.as_deref(),
        user_agent: user_agent.as_deref(),
        created_at,
    };
    if keyed { chain::keyed_hash(&t.app.secrets().sealing_box(), &prev, &link) } else { chain::hash(&prev, &link) }
}

/// Rewrites every row of an account's chain as someone with the database would: the second
/// event's detail set to `second_detail`, every hash recomputed (keyed only with the keyring), the head
/// moved along. Answers the rewritten row.
async fn rewrite_chain(t: &TestApp, account_id: i64, keyed: bool, second_detail: &str) -> i64 {
    type Row = (i64, i64, Option<i64>, Option<i64>, String, String, Option<String>, Option<String>, i64);
    let rows: Vec<Row> = {
        let mut conn = t.app.store().conn().await.unwrap();
        sqlx::query_as(
            "SELECT id, seq, actor_user_id, target_user_id, event, detail, ip, user_agent, created_at
             FROM audit_events WHERE account_id = $1 ORDER BY seq",
        )
        .bind(account_id)
        .fetch_all(&mut *conn)
        .await
        .unwrap()
    };
    let key = t.app.secrets().sealing_box();
    let mut prev = chain::GENESIS.to_string();
    for (id, seq, actor, target, event, detail, ip, user_agent, created_at) in &rows {
        let detail = if *seq == 2 { second_detail.to_string() } else { detail.clone() };
        let link = chain::Link {
            chain: account_id,
            seq: *seq,
            actor: *actor,
            target: *target,
            event,
            detail: &detail,
            ip: ip.as_deref(),
            user_agent: user_agent.as_deref(),
            created_at: *created_at,
        };
        let hash = if keyed { chain::keyed_hash(&key, &prev, &link) } else { chain::hash(&prev, &link) };
        let sql = format!(
            "UPDATE audit_events SET detail = '{}', prev_hash = '{prev}', hash = '{hash}' WHERE id = {id}",
            detail.replace('\'', "''")
        );
        tamper(t, &sql).await;
        prev = hash;
    }
    tamper(t, &format!("UPDATE audit_chain_heads SET last_hash = '{prev}' WHERE chain = {account_id}")).await;
    rows[1].0
}

async fn sec_30_a_chain_rewritten_without_the_key_is_detected(db: TestDb) {
    let t = TestApp::new(db).await;
    let (acme, ..) = busy_account(&t, "acme").await;
    let (globex, ..) = busy_account(&t, "globex").await;
    assert!(links(&t, acme.account_id).await.iter().all(|l| chain::is_keyed(&l.3)), "every link is keyed");
    rewrite_chain(&t, acme.account_id, false, r#"{"rewritten":true}"#).await;
    let report = verify(&t).await;
    let last = links(&t, acme.account_id).await.last().cloned().unwrap();
    assert_eq!(
        report.breaks,
        vec![ChainBreak { chain: acme.account_id, row_id: Some(last.0), seq: last.1, problem: ChainProblem::Unkeyed }],
        "a consistent unkeyed rewrite, head included, still shows; globex ({}) is untouched",
        globex.account_id
    );
    assert!(report.breaks[0].to_string().contains("is not keyed although the chain is"));
}

async fn sec_30_chains_from_before_the_key_are_sealed_once_and_stay_checkable(db: TestDb) {
    let t = TestApp::new(db).await;
    let (acme, ..) = busy_account(&t, "acme").await;
    // A chain as the unkeyed code wrote it, before the upgrade.
    rewrite_chain(&t, acme.account_id, false, r#"{"rewritten":1}"#).await;
    let before = links(&t, acme.account_id).await.len();
    assert_eq!(t.app.seal_unkeyed_audit_chains().await.unwrap(), 1);
    assert_eq!(t.app.seal_unkeyed_audit_chains().await.unwrap(), 0, "once");
    let sealed = links(&t, acme.account_id).await;
    assert_eq!(sealed.len(), before + 1);
    assert!(chain::is_keyed(&sealed.last().unwrap().3));
    assert!(verify(&t).await.is_intact(), "{:?}", verify(&t).await.breaks);
    // The unkeyed history is covered by the keyed seal: rewriting it again shows, whether
    // the seal is left as it was (it no longer follows) or rewritten too (it is unkeyed).
    let seal = sealed.last().cloned().unwrap();
    rewrite_chain(&t, acme.account_id, false, r#"{"rewritten":2}"#).await;
    let broken = verify(&t).await.breaks;
    assert_eq!(broken.len(), 1, "{broken:?}");
    assert_eq!((broken[0].row_id, broken[0].problem), (Some(seal.0), ChainProblem::Unkeyed), "{broken:?}");
    let sql = format!("UPDATE audit_events SET hash = '{}' WHERE id = {}", seal.3, seal.0);
    tamper(&t, &sql).await;
    tamper(&t, &format!("UPDATE audit_chain_heads SET last_hash = '{}' WHERE chain = {}", seal.3, acme.account_id))
        .await;
    let broken = verify(&t).await.breaks;
    assert_eq!(broken.len(), 1, "{broken:?}");
    assert!(matches!(broken[0].problem, ChainProblem::Edited | ChainProblem::Relinked), "{broken:?}");
    assert_eq!(broken[0].row_id, Some(seal.0), "the keyed seal no longer fits the rewritten history");
}

async fn sec_30_a_checkpoint_reveals_a_whole_chain_rewritten_even_with_the_key(db: TestDb) {
    let t = TestApp::new(db).await;
    let (acme, ..) = busy_account(&t, "acme").await;
    let (globex, ..) = busy_account(&t, "globex").await;
    let checkpoint = t.app.audit_checkpoint().await.unwrap();
    let acme_head = head(&t, acme.account_id).await;
    assert!(
        checkpoint.chains.iter().any(|c| c.chain == acme.account_id && (c.seq, &c.hash) == (acme_head.0, &acme_head.1))
    );
    assert!(t.app.verify_audit_log(Some(&checkpoint)).await.unwrap().is_intact());

    // Someone with the database and the keyring rewrites a whole chain: the chain alone
    // holds, the checkpoint kept elsewhere does not.
    rewrite_chain(&t, acme.account_id, true, r#"{"rewritten":true}"#).await;
    assert!(verify(&t).await.is_intact(), "a rewrite with the key passes the chain's own check");
    let report = t.app.verify_audit_log(Some(&checkpoint)).await.unwrap();
    assert_eq!(report.breaks.len(), 1, "{:?}", report.breaks);
    let b = &report.breaks[0];
    assert_eq!((b.chain, b.seq, b.problem), (acme.account_id, acme_head.0, ChainProblem::CheckpointMismatch));
    assert!(b.to_string().contains("differs from the checkpoint"), "globex ({}) agrees", globex.account_id);

    // Events appended after the checkpoint are fine; a checkpoint edited to fit is refused.
    let mut forged = checkpoint.clone();
    for c in &mut forged.chains {
        if c.chain == acme.account_id {
            c.hash = head(&t, acme.account_id).await.1;
        }
    }
    let refused = t.app.verify_audit_log(Some(&forged)).await.unwrap_err();
    assert!(refused.to_string().contains("not signed by this installation"), "{refused}");
}

async fn sec_30_a_deleted_middle_row_is_detected(db: TestDb) {
    let t = TestApp::new(db).await;
    let (acme, ..) = busy_account(&t, "acme").await;
    let chain = links(&t, acme.account_id).await;
    let (gone, seq) = (chain[4].0, chain[4].1);
    tamper(&t, &format!("DELETE FROM audit_events WHERE id = {gone}")).await;
    let report = verify(&t).await;
    assert_eq!(
        report.breaks,
        vec![ChainBreak { chain: acme.account_id, row_id: None, seq, problem: ChainProblem::Missing }]
    );
    assert!(report.breaks[0].to_string().contains(&format!("the row at seq {seq} is missing")));
}

async fn sec_30_a_deleted_last_row_is_detected(db: TestDb) {
    let t = TestApp::new(db).await;
    let (acme, ..) = busy_account(&t, "acme").await;
    let chain = links(&t, acme.account_id).await;
    let (last, n) = (chain.last().unwrap().0, chain.len() as i64);
    tamper(&t, &format!("DELETE FROM audit_events WHERE id = {last}")).await;
    let report = verify(&t).await;
    assert_eq!(
        report.breaks,
        vec![ChainBreak {
            chain: acme.account_id,
            row_id: None,
            seq: n,
            problem: ChainProblem::TailMissing { head_seq: n }
        }]
    );
}

async fn sec_30_concurrent_appends_never_fork_the_chain(db: TestDb) {
    let t = TestApp::new(db).await;
    let owner = t.account("acme").await;
    let account = owner.account_id;
    // Twenty appends racing, each in a transaction of its own…
    let appends: Vec<_> = (0..20)
        .map(|i| {
            let (store, key) = (t.app.store().clone(), t.app.secrets().sealing_box());
            tokio::spawn(async move {
                let mut tx = store.begin().await.unwrap();
                let detail = json!({ "n": i }).to_string();
                let event = NewEvent {
                    account_id: Some(account),
                    event: "test.concurrent",
                    detail,
                    now: 1,
                    ..Default::default()
                };
                audit::append(&mut tx, &event, &key).await.unwrap();
                tx.commit().await.unwrap();
            })
        })
        .collect();
    // …beside twenty failed sign-ins into the same account (the throttle may turn some
    // away before they reach the log).
    let sign_ins: Vec<_> = (0..20)
        .map(|_| {
            let http = Http::new(t.router());
            tokio::spawn(async move {
                let body = json!({ "email": "owner@acme.test", "password": "not the password" });
                http.post_json("/api/v1/login", &body).await.status
            })
        })
        .collect();
    for task in appends {
        task.await.unwrap();
    }
    let mut refused = 0;
    for task in sign_ins {
        let status = task.await.unwrap();
        assert!(status == 401 || status == 429, "{status}");
        refused += usize::from(status == 401);
    }
    assert!(refused > 0);
    let events = t.events(account).await;
    assert_eq!(events.iter().filter(|e| e.0 == "test.concurrent").count(), 20);
    assert_eq!(events.iter().filter(|e| e.0 == "sign_in.failed").count(), refused);
    let seqs: Vec<i64> = links(&t, account).await.iter().map(|l| l.1).collect();
    assert_eq!(seqs, (1..=events.len() as i64).collect::<Vec<_>>(), "one chain, no fork, no gap");
    let report = verify(&t).await;
    assert!(report.is_intact(), "{:?}", report.breaks);
}

/// The events the API answers for `query`, as (event, actor, target, created_at).
async fn listed(http: &Http, query: &str) -> Vec<(String, Option<i64>, Option<i64>, i64)> {
    let r = http.get(&format!("/api/v1/audit-events?{query}")).await;
    assert_eq!(r.status, 200, "{query}: {}", r.text());
    r.json()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["event"].as_str().unwrap().to_string(),
                e["actor_user_id"].as_i64(),
                e["target_user_id"].as_i64(),
                e["created_at"].as_i64().unwrap(),
            )
        })
        .collect()
}

async fn audit_api_filters_by_person_event_type_and_dates(db: TestDb) {
    let t = TestApp::new(db).await;
    let owner = t.account("acme").await;
    t.person(&owner, "admin@acme.test", Role::Admin).await;
    let user = t.person(&owner, "user@acme.test", Role::User).await;
    let globex = t.account("globex").await;
    wrong_password(&t, "owner@globex.test").await;
    t.clock.advance(2 * DAY);
    wrong_password(&t, "user@acme.test").await;
    t.signed_in("user@acme.test").await;
    let http = t.signed_in("owner@acme.test").await;

    let about_user = listed(&http, &format!("user_id={}", user.id)).await;
    assert!(about_user.len() >= 3, "{about_user:?}");
    assert!(about_user.iter().all(|e| e.1 == Some(user.id) || e.2 == Some(user.id)), "{about_user:?}");

    let sign_ins = listed(&http, "event=sign_in.").await;
    let kinds: Vec<&str> = sign_ins.iter().map(|e| e.0.as_str()).collect();
    assert!(kinds.iter().all(|k| k.starts_with("sign_in.")), "{kinds:?}");
    assert!(kinds.contains(&"sign_in.failed") && kinds.contains(&"sign_in.succeeded"), "{kinds:?}");
    let failed = listed(&http, "event=sign_in.failed").await;
    assert_eq!(failed.len(), 1, "acme's one failure, never globex's: {failed:?}");
    assert_eq!(failed[0].2, Some(user.id));
    assert!(listed(&http, "event=sign_in").await.is_empty(), "without the dot it is an exact type");

    let day_17 = listed(&http, "from=2027-01-17").await;
    assert!(day_17.iter().all(|e| e.3 >= DAY_15 + 2 * DAY) && day_17.iter().any(|e| e.0 == "sign_in.failed"));
    let day_15 = listed(&http, "to=2027-01-15").await;
    assert!(day_15.iter().all(|e| e.3 < DAY_15 + DAY) && day_15.iter().any(|e| e.0 == "account.created"));
    assert!(day_15.iter().all(|e| e.0 != "sign_in.failed"));
    let seconds = listed(&http, &format!("from={}&to={}", DAY_15 + 2 * DAY, DAY_15 + 3 * DAY)).await;
    assert_eq!(seconds, day_17, "Unix seconds work like dates");
    let combined = listed(&http, &format!("user_id={}&event=sign_in.&from=2027-01-17&to=2027-01-17", user.id)).await;
    let kinds: Vec<&str> = combined.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(kinds, ["sign_in.succeeded", "sign_in.failed"]);

    assert!(listed(&http, &format!("user_id={}", globex.id)).await.is_empty(), "another account's person");
    for bad in
        ["from=2027-02-30", "to=yesterday", "event=sign%20in", "event=%27%20OR%201%3D1", "user_id=abc", "before=-1"]
    {
        let r = http.get(&format!("/api/v1/audit-events?{bad}")).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
        assert_eq!(r.error_code(), "invalid_query");
    }
    let r = http.get("/api/v1/audit-events?from=2027-01-18&to=2027-01-17").await;
    assert_eq!(r.status, 400);
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("before its start"), "{}", r.text());

    assert_eq!(t.signed_in("admin@acme.test").await.get("/api/v1/audit-events?event=sign_in.").await.status, 200);
    assert_eq!(t.signed_in("user@acme.test").await.get("/api/v1/audit-events").await.status, 403);
}

/// A CSV document as rows of cells (RFC 4180: quoted cells may hold commas, quotes, breaks).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut cell) = (Vec::new(), Vec::new(), String::new());
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    rows
}

async fn audit_exports_csv_and_json_for_managers_of_the_account_only(db: TestDb) {
    let t = TestApp::new(db).await;
    let owner = t.account("acme").await;
    t.person(&owner, "admin@acme.test", Role::Admin).await;
    let user = t.person(&owner, "user@acme.test", Role::User).await;
    t.account("globex").await;
    wrong_password(&t, "owner@globex.test").await;
    let formula = "=HYPERLINK(\"http://evil.example\",\"click\")";
    let attacker = t.http();
    attacker.set_user_agent(formula);
    wrong_password_on(&attacker, "user@acme.test").await;
    attacker.set_user_agent("-2+3, \"quoted\"");
    wrong_password_on(&attacker, "user@acme.test").await;
    let http = t.signed_in("owner@acme.test").await;

    let r = http.get("/api/v1/audit-events/export?format=csv&event=sign_in.failed").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type").as_deref(), Some("text/csv; charset=utf-8"));
    let disposition = r.header("content-disposition").unwrap();
    assert!(disposition.starts_with("attachment; filename=\"twofold-audit-") && disposition.ends_with(".csv\""));
    let text = r.text();
    assert!(text.ends_with("\r\n"));
    let rows = parse_csv(&text);
    assert_eq!(
        rows[0],
        ["id", "time_utc", "event", "actor_user_id", "actor", "target_user_id", "target", "ip", "user_agent", "detail"]
    );
    assert_eq!(rows.len(), 3, "the header and acme's two failures: {text}");
    assert!(rows.iter().all(|r| r.len() == 10), "{rows:?}");
    // Newest first; what a spreadsheet shows is text, never a formula.
    assert_eq!(rows[1][8], "'-2+3, \"quoted\"");
    assert_eq!(rows[2][8], format!("'{formula}"));
    assert!(text.contains("\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"click\"\")\""), "{text}");
    for row in &rows[1..] {
        assert_eq!(row[2], "sign_in.failed");
        assert_eq!((row[5].as_str(), row[6].as_str()), (user.id.to_string().as_str(), "Pat Person"));
        assert!(row[1].starts_with("2027-01-15T08:00:00") && row[1].ends_with('Z'), "{row:?}");
        assert!(row[9].contains("wrong_password"), "{row:?}");
    }
    assert!(!text.contains("globex"));

    let r = http.get("/api/v1/audit-events/export?format=json&event=sign_in.failed").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type").as_deref(), Some("application/json"));
    assert!(r.header("content-disposition").unwrap().ends_with(".json\""));
    let exported: Vec<Value> = serde_json::from_slice(&r.body).unwrap();
    let listed: Vec<Value> =
        http.get("/api/v1/audit-events?event=sign_in.failed").await.json().as_array().unwrap().clone();
    let ids = |v: &[Value]| v.iter().map(|e| e["id"].as_i64().unwrap()).collect::<Vec<_>>();
    assert_eq!(ids(&exported), ids(&listed), "the export holds what the same filters list");
    assert_eq!(exported[1]["user_agent"], formula, "JSON carries the value as it came");
    assert_eq!(exported[1]["target"], "Pat Person");
    assert_eq!(exported[1]["detail"]["reason"], "wrong_password");

    let everything = http.get("/api/v1/audit-events/export?format=json").await;
    assert!(!everything.text().contains("globex"), "another account's events never appear");
    let theirs = t.signed_in("owner@globex.test").await.get("/api/v1/audit-events/export?format=csv").await.text();
    assert!(theirs.contains("owner@globex.test") && !theirs.contains("acme"), "{theirs}");

    for bad in ["format=xml", "", "format=csv&from=2027-13-01"] {
        let r = http.get(&format!("/api/v1/audit-events/export?{bad}")).await;
        assert_eq!(r.status, 400, "{bad}");
        assert_eq!(r.error_code(), "invalid_query");
    }
    let admin = t.signed_in("admin@acme.test").await;
    assert_eq!(admin.get("/api/v1/audit-events/export?format=csv").await.status, 200);
    let as_user = t.signed_in("user@acme.test").await;
    for format in ["csv", "json"] {
        let r = as_user.get(&format!("/api/v1/audit-events/export?format={format}")).await;
        assert_eq!(r.status, 403);
        assert_eq!(r.error_code(), "forbidden");
    }
    assert_eq!(t.http().get("/api/v1/audit-events/export?format=csv").await.status, 401);
}

async fn audit_page_filters_pages_and_is_for_managers_only(db: TestDb) {
    let t = TestApp::new(db).await;
    let owner = t.account("acme").await;
    let user = t.person(&owner, "user@acme.test", Role::User).await;
    wrong_password(&t, "user@acme.test").await;
    let http = t.signed_in("owner@acme.test").await;

    let home = http.get("/home").await.text();
    assert!(home.contains("href=\"/audit\""), "managers see the Audit log link");
    let page = http.get("/audit").await;
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(html.contains("<h1>Audit log</h1>") && html.contains("id=\"audit-filter\""));
    assert!(html.contains(&format!("<option value=\"{}\">Pat Person (user@acme.test)</option>", user.id)), "{html}");
    assert!(html.contains("<code>account.created</code>") && html.contains("<code>sign_in.failed</code>"));
    assert!(html.contains("<option value=\"sign_in.\">"), "event families are suggested");

    let filtered = http.get(&format!("/audit?user_id={}&event=sign_in.failed&from=2027-01-15&to=", user.id)).await;
    assert_eq!(filtered.status, 200);
    let html = filtered.text();
    assert_eq!(html.matches("<td><code>sign_in.failed</code></td>").count(), 1, "{html}");
    assert!(!html.contains("<code>account.created</code>"));
    assert!(html.contains(&format!("<option value=\"{}\" selected>", user.id)));
    assert!(
        html.contains("name=\"event\" value=\"sign_in.failed\"") && html.contains("name=\"from\" value=\"2027-01-15\"")
    );
    let links = unescape(&html);
    let filters = format!("user_id={}&event=sign_in.failed&from=2027-01-15", user.id);
    assert!(links.contains(&format!("href=\"/api/v1/audit-events/export?format=csv&{filters}\"")), "{html}");
    assert!(links.contains(&format!("href=\"/api/v1/audit-events/export?format=json&{filters}\"")));
    assert!(html.contains("2027-01-15 08:00:00"), "times to the second, UTC");

    // Fifty to a page; "Older" carries the filters on.
    let mut conn = t.app.store().conn().await.unwrap();
    let key = t.app.secrets().sealing_box();
    for i in 0..60 {
        let e = NewEvent {
            account_id: Some(owner.account_id),
            event: "test.filler",
            detail: json!({ "n": i }).to_string(),
            now: DAY_15,
            ..Default::default()
        };
        audit::append(&mut conn, &e, &key).await.unwrap();
    }
    drop(conn);
    let first = http.get("/audit?event=test.filler").await.text();
    assert_eq!(first.matches("<code>test.filler</code>").count(), 50);
    let start =
        first.find("id=\"audit-older\"").map(|i| first[..i].rfind("href=\"").unwrap() + 6).expect("an Older link");
    let older = unescape(first[start..].split('"').next().unwrap());
    assert!(older.starts_with("/audit?event=test.filler&before="), "{older}");
    let second = http.get(&older).await.text();
    assert_eq!(second.matches("<code>test.filler</code>").count(), 10);
    assert!(!second.contains("id=\"audit-older\""));

    let bad = http.get("/audit?from=someday").await;
    assert_eq!(bad.status, 400);
    assert!(bad.text().contains("from must be a date (YYYY-MM-DD) or Unix seconds."));

    let as_user = t.signed_in("user@acme.test").await;
    assert!(!as_user.get("/home").await.text().contains("href=\"/audit\""), "no link for Users");
    let refused = as_user.get("/audit").await;
    assert_eq!(refused.status, 403);
    assert!(refused.text().contains("Not allowed"));
    assert_eq!(t.http().get("/audit").await.status, 303, "strangers go to sign in");
}

/// The `&` of links in attributes, as a browser reads them.
fn unescape(html: &str) -> String {
    html.replace("&#38;", "&").replace("&amp;", "&")
}

fn run_verify(data_dir: &std::path::Path) -> std::process::Output {
    audit_command(data_dir, &["verify"])
}

/// SEC-30 on the real binary: `twofold audit verify` says the log is intact, then names
/// the row that someone edited straight in the SQLite file, and exits 1.
#[tokio::test]
async fn sec_30_audit_verify_command_names_an_edited_row() {
    let server = Server::start(&[], &[]).await;
    let token = server.setup_link().unwrap().rsplit('/').next().unwrap().to_string();
    let client = crate::support::client(true);
    let body =
        json!({ "account_name": "Acme", "owner_name": "Ada", "owner_email": "ada@acme.test", "password": PASSWORD });
    let r = client.post(format!("{}/api/v1/setup/{token}", server.base)).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let wrong = json!({ "email": "ada@acme.test", "password": "not the password" });
    let r =
        crate::support::client(false).post(format!("{}/api/v1/login", server.base)).json(&wrong).send().await.unwrap();
    assert_eq!(r.status(), 401);

    let out = run_verify(server.data_dir());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("events: intact"), "{stdout}");

    sqlx::any::install_default_drivers();
    let mut db = sqlx::AnyConnection::connect(&sqlite_url_in(server.data_dir())).await.unwrap();
    let id: i64 = sqlx::query_scalar("SELECT id FROM audit_events WHERE event = 'sign_in.failed'")
        .fetch_one(&mut db)
        .await
        .unwrap();
    db.execute("DROP TRIGGER audit_events_no_update").await.unwrap();
    sqlx::query("UPDATE audit_events SET detail = '{}' WHERE id = $1").bind(id).execute(&mut db).await.unwrap();
    db.close().await.unwrap();

    let out = run_verify(server.data_dir());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!("row {id} (seq ")) && stdout.contains("was changed after it was written"),
        "{stdout}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("audit chains are broken"));
}

fn audit_command(data_dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(binary())
        .arg("audit")
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("TWOFOLD_DATABASE_URL")
        .env_remove("TWOFOLD_SECRET_KEY")
        .output()
        .unwrap()
}

/// `twofold audit checkpoint` and `verify --checkpoint` on the real binary: a checkpoint
/// file verifies, an edited one is refused, an existing file is never overwritten.
#[tokio::test]
async fn sec_30_checkpoints_are_written_to_a_file_and_checked_by_the_command() {
    let server = Server::start(&[], &[]).await;
    crate::support::api::create_account(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("checkpoint.json");
    let path = file.to_str().unwrap();
    let out = audit_command(server.data_dir(), &["checkpoint", "--output", path]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(written["format"], "twofold-audit-checkpoint/v1");
    assert!(written["chains"].as_array().is_some_and(|c| !c.is_empty()), "{written}");

    let again = audit_command(server.data_dir(), &["checkpoint", "--output", path]);
    assert_ne!(again.status.code(), Some(0), "an existing checkpoint is not overwritten");

    let out = audit_command(server.data_dir(), &["verify", "--checkpoint", path]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("checked against the checkpoint of") && stdout.contains("intact"), "{stdout}");

    let mut edited = written.clone();
    edited["chains"][0]["hash"] = json!("k1:00");
    std::fs::write(&file, edited.to_string()).unwrap();
    let out = audit_command(server.data_dir(), &["verify", "--checkpoint", path]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not signed by this installation"), "{out:?}");
}
