//! Personal access tokens against the real binary's router and PostgreSQL: a user makes one on
//! the account page and sees its secret once, only its hash is stored, it lets in only its
//! user while it is in force, and each user revokes only their own (an admin anyone's).

mod support;

use app::domain::roles::Role;
use app::server::store::Store;
use app::server::token_edits;
use std::time::Duration;
use support::{post_expecting, spawn_app, unique_name, TestApp};

const FRESH: &[(&str, &str)] = &[
    ("form_id", "new-token"),
    ("name", "MQTTX on my laptop"),
    ("scope", "read_publish"),
    ("filters", "plant/#\nplant/+/temperature"),
    ("expiry_days", "30"),
];

/// Makes a token with the account page's form; returns the secret the page then shows once.
async fn make_token(app: &TestApp, fields: &[(&str, &str)]) -> String {
    let page = post_expecting(app, "/account/tokens/add", fields, "done=token_created").await;
    let start = page.body.find("lkt_").expect("the new token is shown") + 4;
    let hex: String = page.body[start..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    let secret = format!("lkt_{hex}");
    assert_eq!(secret.len(), 4 + 64, "{secret}");
    let again = app.get("/account").await;
    assert!(!again.body.contains(&secret), "a secret is shown once");
    secret
}

async fn store(app: &TestApp) -> Store {
    Store::connect(&app.database_url, Duration::from_secs(10))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_token_is_shown_once_kept_as_a_hash_and_lets_in_only_its_user_while_in_force() {
    let app = spawn_app().await;
    let name = unique_name("olga");
    app.sign_in_as(&name, Role::Operator).await;
    let secret = make_token(&app, FRESH).await;
    let store = store(&app).await;

    // Nothing stored holds the secret: the token's row has its hash, the audit log its name.
    let dump: String =
        sqlx::query_scalar("select string_agg(t::text, ' ') from (select * from access_token) t")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(!dump.contains(&secret[4..]), "{dump}");
    let audited = app.audited("token_created").await;
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0].1["name"], "MQTTX on my laptop");
    assert!(!audited[0].1.to_string().contains(&secret));

    let grant = token_edits::authenticate(&store, &name.to_uppercase(), &secret)
        .await
        .unwrap()
        .expect("its user, in any letter case");
    assert_eq!(grant.user.name, name);
    assert_eq!(grant.user.role, Role::Operator);
    assert!(grant.scope.may_publish());
    let filters: Vec<&str> = grant.filters.iter().map(|f| f.as_str()).collect();
    assert_eq!(filters, ["plant/#", "plant/+/temperature"]);
    // Another user's name, a changed secret, the user's password: nobody gets in.
    let other = unique_name("otto");
    app.add_user(&other, Role::Admin).await;
    let mut changed = secret.clone();
    changed.replace_range(10..11, if &secret[10..11] == "0" { "1" } else { "0" });
    for (who, password) in [
        (&other, &secret),
        (&name, &changed),
        (&name, &"lkt_".to_owned()),
    ] {
        let refused = token_edits::authenticate(&store, who, password)
            .await
            .unwrap();
        assert!(refused.is_none(), "{who} {password}");
    }

    // The account page lists it, never its secret; the user revokes it and it lets nobody in.
    let page = app.get("/account").await;
    assert!(page.body.contains("MQTTX on my laptop") && page.body.contains("plant/#"));
    assert!(
        !page.body.contains("Everyone"),
        "only an admin sees everyone's"
    );
    let id = grant.token_id.to_string();
    post_expecting(
        &app,
        "/account/tokens/revoke",
        &[("id", &id)],
        "done=token_revoked",
    )
    .await;
    assert!(!store.token_in_force(grant.token_id).await.unwrap());
    let revoked = token_edits::authenticate(&store, &name, &secret)
        .await
        .unwrap();
    assert!(revoked.is_none());
    // Once revoked, it stays so.
    post_expecting(
        &app,
        "/account/tokens/revoke",
        &[("id", &id)],
        "error=unknown_token",
    )
    .await;
}

#[tokio::test]
async fn each_user_revokes_only_their_own_tokens_and_an_admin_anyone_s() {
    let app = spawn_app().await;
    let owner = app.sign_in_as(&unique_name("vera"), Role::Viewer).await;
    let secret = make_token(&app, FRESH).await;
    let store = store(&app).await;
    let id: i64 = sqlx::query_scalar("select max(id) from access_token")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let id = id.to_string();

    app.sign_in_as(&unique_name("otto"), Role::Operator).await;
    post_expecting(
        &app,
        "/account/tokens/revoke",
        &[("id", &id)],
        "error=unknown_token",
    )
    .await;
    assert!(store.token_in_force(id.parse().unwrap()).await.unwrap());
    post_expecting(
        &app,
        "/account/tokens/revoke",
        &[("id", "x")],
        "error=bad_form",
    )
    .await;

    app.sign_in_as(&unique_name("boss"), Role::Admin).await;
    let page = app.get("/account").await;
    assert!(page.body.contains("Everyone"), "{}", page.body);
    assert!(page.body.contains("MQTTX on my laptop"));
    assert!(!page.body.contains(&secret));
    post_expecting(
        &app,
        "/account/tokens/revoke",
        &[("id", &id)],
        "done=token_revoked",
    )
    .await;
    assert!(!store.token_in_force(id.parse().unwrap()).await.unwrap());
    let revoked = app.audited("token_revoked").await;
    assert_eq!(revoked.len(), 1);
    assert!(revoked[0].0.as_deref().unwrap().starts_with("boss"));

    // A token of a user who is then disabled lets nobody in either.
    app.use_session(&owner);
    let name = sqlx::query_scalar::<_, String>(
        "select u.name from app_user u join access_token t on t.user_id = u.id limit 1",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    let secret = make_token(&app, FRESH).await;
    assert!(token_edits::authenticate(&store, &name, &secret)
        .await
        .unwrap()
        .is_some());
    sqlx::query("update app_user set disabled = true where name = $1")
        .bind(&name)
        .execute(&app.db)
        .await
        .unwrap();
    assert!(token_edits::authenticate(&store, &name, &secret)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn a_bad_token_form_is_refused_field_by_field_and_tokens_in_force_are_bounded() {
    let app = spawn_app().await;
    app.sign_in_as(&unique_name("olga"), Role::Operator).await;
    let with = |field: &'static str, value: &'static str| -> Vec<(&'static str, &'static str)> {
        FRESH
            .iter()
            .map(|(name, old)| (*name, if *name == field { value } else { *old }))
            .collect()
    };
    for (field, value, code) in [
        ("name", "", "bad_token_name"),
        ("scope", "write", "bad_token_scope"),
        ("filters", "plant/#/x", "bad_token_filter"),
        ("expiry_days", "9999", "bad_token_expiry"),
    ] {
        let outcome = format!("error={code}&form_id=new-token");
        post_expecting(&app, "/account/tokens/add", &with(field, value), &outcome).await;
    }
    let count: i64 = sqlx::query_scalar("select count(*) from access_token")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(count, 0, "nothing refused is stored");

    for _ in 0..20 {
        post_expecting(&app, "/account/tokens/add", FRESH, "done=token_created").await;
    }
    post_expecting(&app, "/account/tokens/add", FRESH, "error=too_many_tokens").await;
    // Revoking one makes room again.
    let id: i64 = sqlx::query_scalar("select min(id) from access_token")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let id = id.to_string();
    post_expecting(
        &app,
        "/account/tokens/revoke",
        &[("id", &id)],
        "done=token_revoked",
    )
    .await;
    post_expecting(&app, "/account/tokens/add", FRESH, "done=token_created").await;
}
