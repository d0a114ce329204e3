//! The admin pages against the real application: users and access rules changed through their
//! forms, the effect of each change, the messages shown, and that nobody else may change them.

mod support;

use app::domain::roles::Role;
use rumqttc::QoS;
use support::{post_expecting, publish, spawn_as_admin, TestApp};

async fn user_state(app: &TestApp, name: &str) -> (String, bool) {
    sqlx::query_as("select role::text, disabled from app_user where name = $1")
        .bind(name)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

async fn rule_id(app: &TestApp, role: &str, filter: &str, permission: &str) -> Option<i64> {
    sqlx::query_scalar(
        "select id from access_rule \
         where role::text = $1 and filter = $2 and permission::text = $3",
    )
    .bind(role)
    .bind(filter)
    .bind(permission)
    .fetch_optional(&app.db)
    .await
    .unwrap()
}

#[tokio::test]
async fn an_admin_adds_a_user_through_the_form_who_can_then_log_in() {
    let (app, _) = spawn_as_admin().await;
    let fields = [
        ("name", "carol"),
        ("role", "operator"),
        ("password", "carol's long password"),
    ];
    let page = post_expecting(&app, "/admin/users/add", &fields, "done=user_added").await;
    assert!(page.body.contains("The user was added."), "{}", page.body);
    assert!(page.body.contains(r#"data-user="carol""#), "{}", page.body);
    let listed = app.post_form("/api/admin_users", &[]).await;
    assert!(listed.body.contains("carol"), "{}", listed.body);
    for page in [&page, &listed] {
        assert!(!page.body.contains("argon2"), "a password hash went out");
    }
    assert_eq!(
        user_state(&app, "carol").await,
        ("operator".to_owned(), false)
    );

    let page = post_expecting(
        &app,
        "/admin/users/add",
        &[
            ("name", "CAROL"),
            ("role", "viewer"),
            ("password", "another long one"),
        ],
        "error=name_taken",
    )
    .await;
    assert!(page.body.contains("exists already"), "{}", page.body);
    let page = post_expecting(
        &app,
        "/admin/users/add",
        &[("name", "dan"), ("role", "viewer"), ("password", "short")],
        "error=weak_password",
    )
    .await;
    assert!(
        page.body.contains("at least 10 characters"),
        "{}",
        page.body
    );
    post_expecting(
        &app,
        "/admin/users/add",
        &[
            ("name", "dan"),
            ("role", "root"),
            ("password", "long enough!"),
        ],
        "error=bad_form",
    )
    .await;

    assert_eq!(
        app.audited("user_added").await.last().unwrap().0.as_deref(),
        Some("boss")
    );
    app.forget_session();
    let login = app.log_in("carol", "carol's long password").await;
    assert_eq!(login.header("location"), Some("/"), "{}", login.head);
}

#[tokio::test]
async fn a_refused_field_is_marked_and_explained_below_it_and_a_forged_form_id_is_dropped() {
    let (app, _) = spawn_as_admin().await;
    let page = post_expecting(
        &app,
        "/admin/users/add",
        &[
            ("form_id", "add-user"),
            ("name", "frank"),
            ("role", "viewer"),
            ("password", "short"),
        ],
        "error=weak_password&form_id=add-user",
    )
    .await;
    let password_input = page
        .body
        .split("<input")
        .filter(|input| input.contains(r#"name="password""#))
        // The add form comes after the table of users, whose rows have password fields too.
        .last()
        .expect("the add form's password field");
    assert!(
        password_input.contains(r#"aria-invalid="true""#)
            && password_input.contains(r#"aria-describedby="add-user-password-problem""#),
        "{password_input}"
    );
    assert!(
        page.body
            .contains(r#"id="add-user-password-problem" class="field-error">That password"#),
        "{}",
        page.body
    );
    // The top of the page links to the field; the name field is not marked.
    assert!(page.body.contains(r##"href="#add-user-password-problem""##));
    assert_eq!(page.body.matches(r#"aria-invalid="true""#).count(), 1);

    // A form id that is not one is left out of the redirect; the outcome still shows at the top.
    let page = post_expecting(
        &app,
        "/admin/users/add",
        &[
            ("form_id", r#""><script>alert(1)</script>"#),
            ("name", "frank"),
            ("role", "viewer"),
            ("password", "short"),
        ],
        "error=weak_password",
    )
    .await;
    assert!(!page.body.contains("<script>alert"), "{}", page.body);
    assert!(!page.body.contains(r#"aria-invalid="true""#));
    assert!(page.body.contains("at least 10 characters"));
}

#[tokio::test]
async fn an_admin_changes_a_role() {
    let (app, _) = spawn_as_admin().await;
    app.add_user("dave", Role::Viewer).await;
    let page = post_expecting(
        &app,
        "/admin/users/role",
        &[("name", "dave"), ("role", "operator")],
        "done=role_changed",
    )
    .await;
    assert!(page.body.contains("The role was changed."), "{}", page.body);
    assert_eq!(user_state(&app, "dave").await.0, "operator");
    let (actor, detail) = app.audited("role_changed").await.pop().unwrap();
    assert_eq!(actor.as_deref(), Some("boss"));
    assert_eq!(detail["to"], "operator");
    post_expecting(
        &app,
        "/admin/users/role",
        &[("name", "nobody-here"), ("role", "admin")],
        "error=unknown_user",
    )
    .await;
}

#[tokio::test]
async fn a_reset_password_replaces_the_old_one_and_ends_the_users_sessions() {
    let (app, _) = spawn_as_admin().await;
    let admin = app.session();
    let old = app.add_user("erin", Role::Viewer).await;
    app.forget_session();
    app.log_in("erin", &old).await;
    let erin = app.session();
    assert_eq!(app.get("/").await.status, 200);

    app.use_session(&admin);
    post_expecting(
        &app,
        "/admin/users/password",
        &[("name", "erin"), ("password", "a fresh long password")],
        "done=password_reset",
    )
    .await;
    post_expecting(
        &app,
        "/admin/users/password",
        &[("name", "erin"), ("password", "short")],
        "error=weak_password",
    )
    .await;

    app.use_session(&erin);
    assert_eq!(app.get("/").await.status, 303, "erin's session survived");
    app.forget_session();
    let refused = app.log_in("erin", &old).await;
    assert!(
        refused
            .header("location")
            .is_some_and(|to| to.contains("failed")),
        "{}",
        refused.head
    );
    let login = app.log_in("erin", "a fresh long password").await;
    assert_eq!(login.header("location"), Some("/"), "{}", login.head);
}

#[tokio::test]
async fn a_disabled_user_cannot_log_in_until_enabled_again() {
    let (app, _) = spawn_as_admin().await;
    let admin = app.session();
    let password = app.add_user("frank", Role::Operator).await;
    let page = post_expecting(
        &app,
        "/admin/users/disable",
        &[("name", "frank"), ("disabled", "true")],
        "done=user_disabled",
    )
    .await;
    assert!(user_state(&app, "frank").await.1, "frank is disabled");
    let row = page.body.split(r#"data-user="frank""#).nth(1).unwrap();
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(row.contains("disabled") && row.contains("Enable"), "{row}");

    app.forget_session();
    let refused = app.log_in("frank", &password).await;
    assert!(refused.header("location").unwrap().contains("failed"));

    app.use_session(&admin);
    post_expecting(
        &app,
        "/admin/users/disable",
        &[("name", "frank"), ("disabled", "false")],
        "done=user_enabled",
    )
    .await;
    app.forget_session();
    assert_eq!(
        app.log_in("frank", &password).await.header("location"),
        Some("/")
    );
}

#[tokio::test]
async fn the_last_admin_cannot_disable_or_demote_themselves() {
    let (app, _) = spawn_as_admin().await;
    let page = post_expecting(
        &app,
        "/admin/users/disable",
        &[("name", "boss"), ("disabled", "true")],
        "error=last_admin",
    )
    .await;
    assert!(
        page.body.contains("the last enabled admin"),
        "{}",
        page.body
    );
    post_expecting(
        &app,
        "/admin/users/role",
        &[("name", "boss"), ("role", "viewer")],
        "error=last_admin",
    )
    .await;
    assert_eq!(user_state(&app, "boss").await, ("admin".to_owned(), false));
    assert_eq!(app.get("/admin/users").await.status, 200, "still an admin");
}

#[tokio::test]
async fn a_rule_change_decides_at_once_which_topics_a_viewer_sees() {
    let (app, viewer) = spawn_as_admin().await;
    let admin = app.session();
    let everything = rule_id(&app, "viewer", "#", "read").await.unwrap();
    post_expecting(
        &app,
        "/admin/rules/delete",
        &[("id", &everything.to_string())],
        "done=rule_deleted",
    )
    .await;
    let plant = app.topic("plant/#");
    let page = post_expecting(
        &app,
        "/admin/rules/add",
        &[
            ("role", "viewer"),
            ("filter", &plant),
            ("permission", "read"),
        ],
        "done=rule_added",
    )
    .await;
    assert!(
        page.body.contains(&format!(r#"value="{plant}""#)),
        "{}",
        page.body
    );

    let (boiler, lamp) = (app.topic("plant/boiler/temp"), app.topic("office/lamp"));
    publish(&[
        (&boiler, b"71.5", QoS::AtLeastOnce, false),
        (&lamp, b"on", QoS::AtLeastOnce, false),
    ])
    .await;
    app.wait_for_stored(2).await;
    // Admins need no rule to see everything.
    app.get_until("/", |body| body.contains(&boiler) && body.contains(&lamp))
        .await;

    app.use_session(&viewer);
    let page = app.get_until("/", |body| body.contains(&boiler)).await;
    assert!(!page.body.contains(&lamp), "{}", page.body);

    app.use_session(&admin);
    let id = rule_id(&app, "viewer", &plant, "read").await.unwrap();
    let office = app.topic("office/#");
    post_expecting(
        &app,
        "/admin/rules/change",
        &[
            ("id", &id.to_string()),
            ("role", "viewer"),
            ("filter", &office),
            ("permission", "read"),
        ],
        "done=rule_changed",
    )
    .await;
    app.use_session(&viewer);
    let page = app.get("/").await;
    assert!(
        page.body.contains(&lamp) && !page.body.contains(&boiler),
        "{}",
        page.body
    );

    for action in ["rule_deleted", "rule_added", "rule_changed"] {
        let entries = app.audited(action).await;
        assert_eq!(entries.len(), 1, "{action}");
        assert_eq!(entries[0].0.as_deref(), Some("boss"), "{action}");
    }
    let (_, changed) = app.audited("rule_changed").await.pop().unwrap();
    assert_eq!(changed["from"]["filter"], plant.as_str());
    assert_eq!(changed["to"]["filter"], office.as_str());
    assert_eq!(app.audited("rule_deleted").await[0].1["filter"], "#");
}

#[tokio::test]
async fn bad_filters_duplicates_and_unknown_rules_are_refused_with_a_message() {
    let (app, _) = spawn_as_admin().await;
    let count = || async {
        sqlx::query_scalar::<_, i64>("select count(*) from access_rule")
            .fetch_one(&app.db)
            .await
            .unwrap()
    };
    let before = count().await;
    let page = post_expecting(
        &app,
        "/admin/rules/add",
        &[
            ("role", "viewer"),
            ("filter", "a/#/b"),
            ("permission", "read"),
        ],
        "error=bad_filter",
    )
    .await;
    assert!(
        page.body.contains("not an MQTT topic filter"),
        "{}",
        page.body
    );
    let page = post_expecting(
        &app,
        "/admin/rules/add",
        &[
            ("role", "operator"),
            ("filter", "#"),
            ("permission", "read"),
        ],
        "error=duplicate_rule",
    )
    .await;
    assert!(
        page.body.contains("That rule exists already."),
        "{}",
        page.body
    );

    let viewer_rule = rule_id(&app, "viewer", "#", "read")
        .await
        .unwrap()
        .to_string();
    let change = |filter: &'static str, role: &'static str| {
        [
            ("id", viewer_rule.clone()),
            ("role", role.to_owned()),
            ("filter", filter.to_owned()),
            ("permission", "read".to_owned()),
        ]
    };
    for (fields, outcome) in [
        (change("#", "operator"), "error=duplicate_rule"),
        (change("a+/b", "viewer"), "error=bad_filter"),
    ] {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        post_expecting(&app, "/admin/rules/change", &fields, outcome).await;
    }
    post_expecting(
        &app,
        "/admin/rules/delete",
        &[("id", "987654321")],
        "error=unknown_rule",
    )
    .await;
    assert_eq!(count().await, before);
    assert!(rule_id(&app, "viewer", "#", "read").await.is_some());
}

#[tokio::test]
async fn the_preview_shows_which_roles_may_read_and_publish_a_topic() {
    let (app, _) = spawn_as_admin().await;
    let hall = app.topic("lights/hall");
    let preview = |topic: String| {
        let app = &app;
        async move {
            let query: String = url::form_urlencoded::byte_serialize(topic.as_bytes()).collect();
            let page = app.get(&format!("/admin/rules?topic={query}")).await;
            assert_eq!(page.status, 200, "{}", page.head);
            page.body
        }
    };
    let body = preview(hall.clone()).await;
    assert!(
        body.contains(r#"class="may-read">viewer, operator, admin<"#),
        "{body}"
    );
    assert!(body.contains(r#"class="may-publish">admin<"#), "{body}");

    post_expecting(
        &app,
        "/admin/rules/add",
        &[
            ("role", "operator"),
            ("filter", &app.topic("lights/#")),
            ("permission", "publish"),
        ],
        "done=rule_added",
    )
    .await;
    let body = preview(hall).await;
    assert!(
        body.contains(r#"class="may-publish">operator, admin<"#),
        "{body}"
    );
    let body = preview(app.topic("boiler/temp")).await;
    assert!(body.contains(r#"class="may-publish">admin<"#), "{body}");
    let body = preview("plant/+".to_owned()).await;
    assert!(body.contains("is not a topic name"), "{body}");
}

#[tokio::test]
async fn the_rules_page_shows_and_previews_the_public_audience_which_only_reads() {
    let (app, _) = spawn_as_admin().await;
    let weather = app.topic("weather/#");
    let temperature = app.topic("weather/temperature");
    let preview = |topic: String| {
        let app = &app;
        async move {
            let query: String = url::form_urlencoded::byte_serialize(topic.as_bytes()).collect();
            let page = app.get(&format!("/admin/rules?topic={query}")).await;
            assert_eq!(page.status, 200, "{}", page.head);
            page.body
        }
    };
    // Nothing is public on a fresh install.
    let body = preview(temperature.clone()).await;
    assert!(
        body.contains(r#"class="may-read">viewer, operator, admin<"#),
        "{body}"
    );
    assert!(body.contains(r#"<option value="public""#), "{body}");

    let page = post_expecting(
        &app,
        "/admin/rules/add",
        &[
            ("role", "public"),
            ("filter", &weather),
            ("permission", "read"),
        ],
        "done=rule_added",
    )
    .await;
    let id = rule_id(&app, "public", &weather, "read").await.unwrap();
    let row = &page.body[page.body.find(&format!(r#"data-rule="{id}""#)).unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(
        row.contains(r#"<option value="public" selected"#),
        "the rule is listed as the public's: {row}"
    );
    let listed = app.post_form("/api/admin_rules", &[]).await;
    assert!(
        listed.body.contains(r#""role":"public""#),
        "{}",
        listed.body
    );

    let body = preview(temperature).await;
    assert!(
        body.contains(
            r#"class="may-read">public (through status pages), viewer, operator, admin<"#
        ),
        "{body}"
    );
    assert!(body.contains(r#"class="may-publish">admin<"#), "{body}");
    let body = preview(app.topic("office/temperature")).await;
    assert!(
        body.contains(r#"class="may-read">viewer, operator, admin<"#),
        "{body}"
    );

    // The public never publishes: the form says why, and the database refuses it too.
    let page = post_expecting(
        &app,
        "/admin/rules/add",
        &[
            ("role", "public"),
            ("filter", "#"),
            ("permission", "publish"),
        ],
        "error=public_publish",
    )
    .await;
    assert!(
        page.body.contains("The public may only read"),
        "{}",
        page.body
    );
    let id = id.to_string();
    post_expecting(
        &app,
        "/admin/rules/change",
        &[
            ("id", &id),
            ("role", "public"),
            ("filter", &weather),
            ("permission", "publish"),
        ],
        "error=public_publish",
    )
    .await;
    let refused = sqlx::query(
        "insert into access_rule (role, filter, permission) values ('public', '#', 'publish')",
    )
    .execute(&app.db)
    .await;
    assert!(refused.is_err(), "the schema refuses a publishing public");
    let refused = sqlx::query(
        "insert into access_rule (role, filter, permission) values ('anyone', '#', 'read')",
    )
    .execute(&app.db)
    .await;
    assert!(refused.is_err(), "the schema refuses an unknown audience");
    let (_, added) = app.audited("rule_added").await.pop().unwrap();
    assert_eq!(added["role"], "public");
}

#[tokio::test]
async fn viewers_and_operators_are_refused_every_admin_route_and_nothing_changes() {
    let (app, _) = spawn_as_admin().await;
    let rule = rule_id(&app, "viewer", "#", "read")
        .await
        .unwrap()
        .to_string();
    // A status page (id 1 in this fresh database) that the forms below would change.
    let created = app
        .post_form(
            "/admin/pages/add",
            &[("slug", "guarded"), ("title", "Guarded")],
        )
        .await;
    assert_eq!(created.status, 303);
    // A series with the same id as the rule, which the series forms would rename or delete.
    for n in 0..rule.parse::<i32>().unwrap() {
        let filter = format!("guarded/{n}");
        let fields = [
            ("filter", filter.as_str()),
            ("pointer", "/v"),
            ("label", "Guarded"),
        ];
        post_expecting(&app, "/admin/series/add", &fields, "done=series_added").await;
    }
    let snapshot = || async {
        let users: Vec<(String, String, bool, String)> = sqlx::query_as(
            "select name, role::text, disabled, password_hash from app_user order by id",
        )
        .fetch_all(&app.db)
        .await
        .unwrap();
        let rules: Vec<(i64, String, String, String)> = sqlx::query_as(
            "select id, role::text, filter, permission::text from access_rule order by id",
        )
        .fetch_all(&app.db)
        .await
        .unwrap();
        let liveness: Vec<(i64, String, String)> =
            sqlx::query_as("select id, name, device_filter from liveness_rule order by id")
                .fetch_all(&app.db)
                .await
                .unwrap();
        let pages: Vec<(i64, String, String, bool)> =
            sqlx::query_as("select id, slug, title, published from status_page order by id")
                .fetch_all(&app.db)
                .await
                .unwrap();
        let widgets: Vec<(i64, i64, String, i32)> =
            sqlx::query_as("select id, page_id, label, position from status_widget order by id")
                .fetch_all(&app.db)
                .await
                .unwrap();
        let series: Vec<(i32, String, String, String)> =
            sqlx::query_as("select id, topic_filter, pointer, label from value_series order by id")
                .fetch_all(&app.db)
                .await
                .unwrap();
        let alerts: Vec<(String,)> = sqlx::query_as(
            "select name from alert_rule union all select name || url from alert_channel",
        )
        .fetch_all(&app.db)
        .await
        .unwrap();
        format!("{users:?} {rules:?} {liveness:?} {pages:?} {widgets:?} {series:?} {alerts:?}")
    };
    let mut outsiders = Vec::new();
    for role in [Role::Viewer, Role::Operator] {
        let name = format!("not-an-admin-{role}");
        outsiders.push((role, app.add_user(&name, role).await, name));
    }
    let before = snapshot().await;
    // Fields that would change something if an admin sent them.
    let fields = [
        ("name", "boss"),
        ("role", "viewer"),
        ("password", "taken over at last"),
        ("disabled", "true"),
        ("id", rule.as_str()),
        ("filter", "#"),
        ("permission", "publish"),
        ("page", "1"),
        ("slug", "taken-over"),
        ("title", "Taken over"),
        ("published", "on"),
        ("kind", "value"),
        ("label", "x"),
        ("topic", "a"),
        ("direction", "up"),
        ("order", "1"),
        ("pointer", "/taken"),
        ("unit", "over"),
        ("format", "webhook"),
        ("url", "http://127.0.0.1:9/taken-over"),
        ("trigger", "1"),
        ("severity", "critical"),
    ];
    let admin_forms: Vec<String> = lookout::startup::served_routes()
        .into_iter()
        .filter(|(method, path)| method == "POST" && path.starts_with("/admin/"))
        .map(|(_, path)| path)
        .collect();
    assert_eq!(admin_forms.len(), 34);
    for (role, password, name) in &outsiders {
        app.forget_session();
        app.log_in(name, password).await;
        for path in &admin_forms {
            let response = app.post_form(path, &fields).await;
            assert_eq!(
                response.status, 403,
                "{role} POST {path}: {}",
                response.head
            );
        }
        for path in ["/admin/users", "/admin/rules?topic=a"] {
            assert_eq!(app.get(path).await.status, 403, "{role} GET {path}");
        }
        for path in ["/api/admin_users", "/api/admin_rules"] {
            let response = app.post_form(path, &[]).await;
            assert_eq!(response.status, 403, "{role} POST {path}");
        }
        let page = app.get("/").await;
        assert!(!page.body.contains("/admin/users"), "a link for a {role}");
    }
    assert_eq!(snapshot().await, before);
}
