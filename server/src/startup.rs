//! Builds the running application from [`Settings`]: database, migrations, broker, HTTP listener,
//! and the tasks between them. Everything that can fail because of a setting fails here, before
//! anything is served, with an error that names the setting.

use crate::config::{ConfigError, Settings};
use crate::ingest::{Broker, Intake, LiveFeed, PublishConnection, Publisher};
use crate::{
    account, admin, alert_outbox, connections, embedded_site, https, live, login, maintenance,
    notify, publish, status_pages, theme, uptime_watch, web, writer,
};
use app::components::incident_forms;
use app::domain::series::SharedSeries;
use app::pages::admin::status_pages as status_editor;
use app::server::access::AccessPolicy;
use app::server::ingest_status::IngestStatus;
use app::server::live_hub::LiveHub;
use app::server::series_edits;
use app::server::snapshot::{SiteInfo, StatusPages};
use app::server::state::{AppState, Parts};
use app::server::store::batch_writer::BatchWriter;
use app::server::store::Store;
use app::{shell, App};
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::Method;
use axum::response::IntoResponse;
use axum::routing::{get, MethodFilter, MethodRouter};
use axum::Router;
use axum::{middleware, Extension};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, AxumRouteListing, LeptosRoutes};
use rumqttc::SubscribeReasonCode;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// The application's routes, worked out once per process. Leptos works them out by rendering the
/// whole app with data loading switched off through a flag of its own that is process-wide
/// (leptos_server's `SuppressResourceLoad`): a page that another server in the same process
/// started rendering meanwhile would wait for its data forever (leptos-rs/leptos#4773). One server
/// per process never meets that, but the integration tests start many in one process, and two of
/// their runs hung on it.
fn route_list() -> Vec<AxumRouteListing> {
    static ROUTES: std::sync::OnceLock<Vec<AxumRouteListing>> = std::sync::OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

/// How long start-up waits for the database and for the broker before giving up.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Application {
    listener: TcpListener,
    /// Set when Lookout serves HTTPS itself; then `redirect_listener` may answer plain HTTP.
    tls: Option<Arc<rustls::ServerConfig>>,
    redirect_listener: Option<TcpListener>,
    router: Router,
    /// Set when `/metrics` has an address of its own; the router serves only it.
    metrics: Option<(TcpListener, Router)>,
    ingest: JoinHandle<()>,
    writer: JoinHandle<()>,
    store: Store,
    settings: Settings,
    /// What shutdown ends: live streams, then ingest (through `stopping`), then the broker
    /// connection (through `client`).
    live: LiveHub,
    client: rumqttc::AsyncClient,
    /// In a shared group: the live feed's task and its connection (see `ingest::LiveFeed`).
    live_feed: Option<(JoinHandle<()>, rumqttc::AsyncClient)>,
    stopping: watch::Sender<bool>,
}

/// How long a shutdown waits for the writer to store and acknowledge what it has.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a shutdown waits for the DISCONNECT to go out and for HTTP requests to finish.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, ConfigError> {
        // First: a wrong certificate file should not wait for the database and the broker.
        let tls = settings
            .web
            .tls
            .as_ref()
            .map(https::server_config)
            .transpose()?;
        let database = &settings.database_url;
        let store = open_database(&settings).await?;
        if let Ok(0) = store.count_admins().await {
            tracing::warn!(
                "no admin user yet: create one with `lookout user add NAME --role admin`"
            );
        }
        // Here and not only in maintenance: the first insert must find its partition, and a
        // database that refuses this should stop start-up, not fail quietly in the background.
        store
            .ensure_message_partitions(
                chrono::Utc::now().date_naive(),
                maintenance::PARTITION_DAYS_AHEAD,
            )
            .await
            .map_err(|error| {
                database.unusable(format!("creating message partitions failed: {error}"))
            })?;

        // The file's alert channels and rules, as the file says now: a start is when it is read.
        store
            .sync_config_alerts(&settings.alerts.channels, &settings.alerts.rules)
            .await
            .map_err(|error| {
                database.unusable(format!(
                    "keeping the config file's alert rules and channels failed: {error}"
                ))
            })?;

        let series = load_series(&settings, &store).await?;
        let status = IngestStatus::new(settings.mqtt.url.value.to_string());
        let broker = Broker::connect(&settings.mqtt, CONNECT_TIMEOUT, status.clone()).await?;
        // Ingest and the writer start now: a persistent session's queued messages arrive right
        // after the connection, before the subscription is confirmed, and must flow.
        let (writer, intake) = start_writer(&settings, &store, &broker, &status, &series);
        let (subscribed, confirmation) = oneshot::channel();
        let hub = LiveHub::default();
        let client = broker.client();
        let (stopping, stop_ingest) = watch::channel(false);
        tokio::spawn(status.clone().record_trend(stopping.subscribe()));
        tokio::spawn(maintenance::backfill_rollups(
            store.clone(),
            status.clone(),
            stopping.subscribe(),
        ));
        tokio::spawn(maintenance::fold_rollups(
            store.clone(),
            status.clone(),
            stopping.subscribe(),
        ));
        tokio::spawn(writer::follow_series(
            store.clone(),
            series.clone(),
            stopping.subscribe(),
        ));
        let outbox = Arc::new(tokio::sync::Notify::new());
        let alerts = uptime_watch::AlertsOutput {
            wake: outbox.clone(),
            link_base: settings
                .web
                .public_url
                .as_ref()
                .map(|url| url.value.to_string())
                .unwrap_or_default(),
        };
        tokio::spawn(alert_outbox::run(
            store.clone(),
            status.clone(),
            notify::Sender::with_system_roots(),
            alerts.link_base.clone(),
            alerts.wake.clone(),
            stopping.subscribe(),
        ));
        tokio::spawn(uptime_watch::run(
            store.clone(),
            status.clone(),
            hub.clone(),
            alerts,
            stopping.subscribe(),
        ));
        // In a shared group ingest gets only this instance's share of the messages: the live
        // views then follow their own connection (LiveFeed).
        let shared = settings.mqtt.shared_group.is_some();
        let ingest = tokio::spawn(broker.run(
            (!shared).then(|| hub.clone()),
            intake.clone(),
            subscribed,
            stop_ingest.clone(),
        ));
        let mut running = AbortOnDrop(vec![ingest, writer]);
        let live_feed =
            match LiveFeed::connect(&settings.mqtt, CONNECT_TIMEOUT, status.clone()).await? {
                Some(feed) => {
                    let feed_client = feed.client();
                    running
                        .0
                        .push(tokio::spawn(feed.run(hub.clone(), intake, stop_ingest)));
                    Some(feed_client)
                }
                None => None,
            };
        confirm_subscriptions(&settings, confirmation).await?;
        // Its own connection, so that a message the broker refuses cannot disturb ingest's. It
        // ends with `stopping`, or when start-up fails and drops it.
        let publishing = PublishConnection::connect(&settings.mqtt, CONNECT_TIMEOUT).await?;
        let publisher =
            publishing.publisher(publish::CONFIRMATION_WAIT, settings.mqtt.max_payload_bytes);
        tokio::spawn(publishing.run(stopping.subscribe()));

        let listen = &settings.listen;
        let listener = TcpListener::bind(listen.value).await.map_err(|error| {
            listen.unusable(format!("cannot listen on {}: {error}", listen.value))
        })?;
        let redirect_listener = match &settings.web.http_redirect_listen {
            Some(redirect) => Some(TcpListener::bind(redirect.value).await.map_err(|error| {
                redirect.unusable(format!("cannot listen on {}: {error}", redirect.value))
            })?),
            None => None,
        };

        let metrics_listener = match &settings.web.metrics_listen {
            Some(metrics) => Some(TcpListener::bind(metrics.value).await.map_err(|error| {
                metrics.unusable(format!("cannot listen on {}: {error}", metrics.value))
            })?),
            None => None,
        };

        let (router, metrics_router) = web_router(
            &settings,
            store.clone(),
            status,
            hub.clone(),
            publisher,
            series,
            outbox,
        )
        .await?;
        let mut tasks = running.disarm();
        let live_feed =
            live_feed.map(|client| (tasks.pop().expect("the live feed's task"), client));
        let [ingest, writer]: [JoinHandle<()>; 2] = tasks.try_into().expect("ingest and writer");
        Ok(Self {
            listener,
            tls,
            redirect_listener,
            router,
            metrics: metrics_listener.map(|listener| (listener, metrics_router)),
            ingest,
            writer,
            store,
            settings,
            live: hub,
            client,
            live_feed,
            stopping,
        })
    }

    /// The port actually bound (the listen address may ask for port 0).
    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
            .port()
    }

    /// The port plain HTTP is redirected from, when configured.
    pub fn redirect_port(&self) -> Option<u16> {
        let listener = self.redirect_listener.as_ref()?;
        Some(listener.local_addr().ok()?.port())
    }

    /// The port `/metrics` is served on, when it has an address of its own.
    pub fn metrics_port(&self) -> Option<u16> {
        let (listener, _) = self.metrics.as_ref()?;
        Some(listener.local_addr().ok()?.port())
    }

    /// Serves and ingests until the process is asked to stop (SIGTERM, Ctrl-C) or a part fails.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// As [`Application::run_until_stopped`], stopping when `stop` completes. A stop is graceful:
    /// no new connections, live streams end, the writer stores and acknowledges everything it
    /// took (what the broker sent after that stays in the session for the next start), the
    /// broker connection closes with a DISCONNECT, and requests under way finish.
    pub async fn run_until(
        self,
        stop: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let Self {
            listener,
            tls,
            redirect_listener,
            router,
            metrics,
            ingest: mut ingest_task,
            writer: mut writer_task,
            store,
            settings,
            live,
            client,
            live_feed,
            stopping,
        } = self;
        // Not one of the parts below: it logs its failures and never stops the others.
        let maintenance_task = tokio::spawn(maintenance::run(store, settings.retention.clone()));

        // The address bound, which tells the port when the setting asked for port 0.
        let address = listener
            .local_addr()
            .map_or(settings.listen.value, |bound| bound);
        let limits = settings.web.limits.clone();
        // One cap for the listeners anyone can reach: it stands for the process's descriptors.
        let slots = connections::Slots::fitting_open_files(limits.max_connections);
        let scheme = if tls.is_some() { "https" } else { "http" };
        if let Some(redirect_listener) = redirect_listener {
            let public_url = settings
                .web
                .public_url
                .as_ref()
                .map(|url| url.value.clone());
            let from = redirect_listener.local_addr()?;
            tokio::spawn(https::redirect_plain_http(
                redirect_listener,
                address.port(),
                public_url,
                slots.clone(),
                limits.clone(),
                stopping.subscribe(),
            ));
            tracing::info!(url = %format!("http://{from}/"), "redirecting plain HTTP to HTTPS");
        }
        if let Some((metrics_listener, metrics_router)) = metrics {
            let at = metrics_listener.local_addr()?;
            // Places of its own: a full main listener must not stop the scrapes that show it.
            tokio::spawn(connections::serve(
                metrics_listener,
                metrics_router,
                connections::Slots::new(METRICS_CONNECTIONS),
                limits.clone(),
                stopping.subscribe(),
            ));
            tracing::info!(url = %format!("http://{at}{METRICS}"), "serving the metrics");
        }
        let (files, bytes) = embedded_site::size();
        if files > 0 {
            tracing::info!(files, bytes, "serving the site from inside the binary");
        }
        let http_stop = stopping.subscribe();
        let mut http_task = tokio::spawn(async move {
            match tls {
                // Live streams go through hyper too here: live::direct reads plain TCP.
                Some(tls) => https::serve(listener, tls, router, slots, limits, http_stop).await,
                // Live streams are served apart from hyper (live::direct); the rest by hyper.
                None => live::direct::serve(listener, router, slots, limits, http_stop).await,
            }
            Ok::<_, std::io::Error>(())
        });
        tracing::info!(url = %format!("{scheme}://{address}/"), "serving");

        let outcome = tokio::select! {
            outcome = &mut http_task => Some(report_exit("the web server", outcome.map(|r| r.map_err(anyhow::Error::from)))),
            outcome = &mut ingest_task => Some(report_exit("MQTT ingest", outcome.map(Ok))),
            outcome = &mut writer_task => Some(report_exit("the database writer", outcome.map(Ok))),
            () = stop => None,
        };
        maintenance_task.abort();
        if let Some(failed) = outcome {
            return failed;
        }

        tracing::info!("stopping: closing the listener and the live streams");
        let _ = stopping.send(true);
        live.close();
        match tokio::time::timeout(DRAIN_TIMEOUT, &mut writer_task).await {
            Ok(_) => tracing::info!("everything received is stored and acknowledged"),
            Err(_) => {
                writer_task.abort();
                tracing::warn!("the writer did not finish in time; the broker redelivers what it had not acknowledged");
            }
        }
        // Queued behind the acknowledgements (waiting for room if they fill the queue), so they
        // reach the broker first; ingest ends once it went out.
        let (mut feed_task, feed_client) = live_feed.unzip();
        let closed = tokio::time::timeout(CLOSE_TIMEOUT, async {
            let _ = client.disconnect().await;
            if let Some(feed_client) = feed_client {
                let _ = feed_client.disconnect().await;
            }
            let _ = (&mut ingest_task).await;
            if let Some(feed_task) = &mut feed_task {
                let _ = feed_task.await;
            }
        })
        .await;
        if closed.is_err() {
            ingest_task.abort();
            if let Some(feed_task) = feed_task {
                feed_task.abort();
            }
            tracing::warn!("the broker connection did not close in time");
        }
        match tokio::time::timeout(CLOSE_TIMEOUT, &mut http_task).await {
            Ok(outcome) => report_exit(
                "the web server",
                outcome.map(|r| r.map_err(anyhow::Error::from)),
            ),
            Err(_) => {
                http_task.abort();
                tracing::warn!("requests still under way were cut off");
                Ok(())
            }
        }
    }
}

/// Starts the database writer for `broker`'s messages; returns its task and the intake that
/// connections hand messages to.
pub(crate) fn start_writer(
    settings: &Settings,
    store: &Store,
    broker: &Broker,
    status: &IngestStatus,
    series: &SharedSeries,
) -> (JoinHandle<()>, Intake) {
    let (sender, receiver) = mpsc::channel(settings.writer.queue_capacity);
    let queue = sender.downgrade();
    status.watch_queue(move || {
        queue
            .upgrade()
            .map_or(0, |queue| queue.max_capacity() - queue.capacity())
    });
    let writer = tokio::spawn(writer::run(
        receiver,
        BatchWriter::new(store.clone(), series.clone()),
        broker.client(),
        broker.session(),
        settings.writer.clone(),
        status.clone(),
    ));
    let intake = Intake::new(
        sender,
        settings.writer.buffer_bytes,
        status.clone(),
        settings.mqtt.max_payload_bytes,
    );
    (writer, intake)
}

/// The named series as stored, which the writer folds by from its first batch.
pub(crate) async fn load_series(
    settings: &Settings,
    store: &Store,
) -> Result<SharedSeries, ConfigError> {
    series_edits::load(store).await.map_err(|error| {
        settings
            .database_url
            .unusable(format!("reading the named series failed: {error}"))
    })
}

/// Connects to PostgreSQL and runs the migrations, so that `serve` and the `user` commands work on
/// a database nothing has touched yet.
pub async fn open_database(settings: &Settings) -> Result<Store, ConfigError> {
    let database = &settings.database_url;
    let store = Store::connect(database.value.expose(), CONNECT_TIMEOUT)
        .await
        .map_err(|error| {
            database.unusable(format!(
                "cannot connect to PostgreSQL at {}: {error}",
                database.value
            ))
        })?;
    store.migrate().await.map_err(|error| {
        database.unusable(format!(
            "running the database migrations on {} failed: {error}",
            database.value
        ))
    })?;
    Ok(store)
}

/// Waits for the broker's answer to our subscriptions and refuses any it rejected.
async fn confirm_subscriptions(
    settings: &Settings,
    confirmation: oneshot::Receiver<Vec<SubscribeReasonCode>>,
) -> Result<(), ConfigError> {
    let address = &settings.mqtt.url.value;
    let codes = match tokio::time::timeout(CONNECT_TIMEOUT, confirmation).await {
        Ok(Ok(codes)) => codes,
        Ok(Err(_)) => return Ok(()), // ingest ended; run_until_stopped reports why
        Err(_) => {
            // A persistent session's backlog arrives before the SubAck; messages are flowing,
            // so this is no reason to refuse to start.
            tracing::warn!(broker = %address, "subscriptions not confirmed yet; continuing");
            return Ok(());
        }
    };
    match settings
        .mqtt
        .subscriptions
        .value
        .iter()
        .zip(&codes)
        .find(|(_, code)| matches!(code, SubscribeReasonCode::Failure))
    {
        Some((subscription, _)) => Err(settings.mqtt.subscriptions.unusable(format!(
            "the broker at {address} refused the subscription {:?}",
            subscription.filter
        ))),
        None => Ok(()),
    }
}

/// Tasks started during a start-up that may still fail: aborted unless start-up completes.
struct AbortOnDrop(Vec<JoinHandle<()>>);

impl AbortOnDrop {
    fn disarm(mut self) -> Vec<JoinHandle<()>> {
        std::mem::take(&mut self.0)
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

fn report_exit(
    task: &str,
    outcome: Result<anyhow::Result<()>, tokio::task::JoinError>,
) -> anyhow::Result<()> {
    match outcome {
        Ok(Ok(())) => {
            tracing::info!("{task} stopped");
            Ok(())
        }
        Ok(Err(error)) => {
            tracing::error!(error = ?error, "{task} failed");
            Err(error.context(format!("{task} failed")))
        }
        Err(error) => {
            tracing::error!(error = %error, "{task} panicked");
            Err(anyhow::anyhow!("{task} panicked: {error}"))
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}

const METRICS: &str = "/metrics";
/// Connections the metrics address serves at once: a scraper or two, and a person looking.
const METRICS_CONNECTIONS: usize = 8;
const HEALTHZ: &str = "/healthz";
const READYZ: &str = "/readyz";
const LOG_IN: &str = "/login";
const LOG_OUT: &str = "/logout";

/// A route served by a plain axum handler, beside the Leptos pages and server functions.
struct PlainRoute {
    method: Method,
    path: &'static str,
    endpoint: MethodRouter<AppState>,
}

fn route<H, T>(method: Method, path: &'static str, handler: H) -> PlainRoute
where
    H: Handler<T, AppState>,
    T: 'static,
{
    let filter = MethodFilter::try_from(method.clone()).expect("a method axum routes");
    PlainRoute {
        method,
        path,
        endpoint: axum::routing::on(filter, handler),
    }
}

fn on_get<H: Handler<T, AppState>, T: 'static>(path: &'static str, handler: H) -> PlainRoute {
    route(Method::GET, path, handler)
}

fn on_post<H: Handler<T, AppState>, T: 'static>(path: &'static str, handler: H) -> PlainRoute {
    route(Method::POST, path, handler)
}

/// The theme buttons of the dashboard's header, as markup for the status pages, which are
/// rendered in a layer that draws no component of its own.
fn theme_buttons() -> String {
    Owner::new().with(|| view! { <app::components::theme_choice::ThemeChoice/> }.to_html())
}

/// Every route served by a plain axum handler. The router registers exactly these, and
/// [`served_routes`] lists them, so the route matrix test sees every one.
fn plain_routes(publish_body_limit: usize) -> Vec<PlainRoute> {
    let mut publish = on_post(app::domain::publish::PUBLISH, publish::publish);
    // web::bounded_bodies bounds it; axum's extractors have a smaller default of their own.
    publish.endpoint = publish
        .endpoint
        .layer(DefaultBodyLimit::max(publish_body_limit));
    vec![
        on_get(METRICS, metrics),
        on_get(HEALTHZ, healthz),
        on_get(READYZ, readyz),
        on_get(app::domain::live::STREAM_PATH, live::stream),
        // GET /login is the page (app::pages::login); these take its form and the logout button.
        on_post(LOG_IN, login::log_in),
        on_post(LOG_OUT, login::log_out),
        // Every page's theme buttons and the stylesheet that applies their choice.
        on_get(app::domain::theme::THEME_CSS, theme::stylesheet),
        on_post(app::domain::theme::CHOOSE_THEME, theme::choose),
        // GET /publish is the page (app::pages::publish); this takes its form.
        publish,
        // The account page's tokens (app::pages::account).
        on_post(app::pages::account::ADD_TOKEN, account::add_token),
        on_post(app::pages::account::REVOKE_TOKEN, account::revoke_token),
        // The forms of the admin pages (app::pages::admin).
        on_post(admin::ADD_USER, admin::add_user),
        on_post(admin::SET_ROLE, admin::set_role),
        on_post(admin::SET_PASSWORD, admin::set_password),
        on_post(admin::SET_DISABLED, admin::set_disabled),
        on_post(admin::ADD_RULE, admin::add_rule),
        on_post(admin::CHANGE_RULE, admin::change_rule),
        on_post(admin::DELETE_RULE, admin::delete_rule),
        on_post(admin::ADD_DEVICE_RULE, admin::add_device_rule),
        on_post(admin::CHANGE_DEVICE_RULE, admin::change_device_rule),
        on_post(admin::DELETE_DEVICE_RULE, admin::delete_device_rule),
        on_post(admin::ADD_SERIES, admin::add_series),
        on_post(admin::RENAME_SERIES, admin::rename_series),
        on_post(admin::DELETE_SERIES, admin::delete_series),
        on_post(admin::ADD_ALERT_RULE, admin::add_alert_rule),
        on_post(admin::CHANGE_ALERT_RULE, admin::change_alert_rule),
        on_post(admin::DELETE_ALERT_RULE, admin::delete_alert_rule),
        on_post(admin::ADD_CHANNEL, admin::add_channel),
        on_post(admin::CHANGE_CHANNEL, admin::change_channel),
        on_post(admin::DELETE_CHANNEL, admin::delete_channel),
        on_post(admin::TEST_CHANNEL, admin::test_channel),
        // Public status pages (app::server::snapshot) and their editor's forms
        // (app::pages::admin::status_pages).
        on_get(status_pages::ROUTE, status_pages::serve),
        // Boards' controls; following a page: signing up, a follower's buttons, one-click
        // unsubscribe.
        on_post(status_pages::ROUTE, status_pages::post),
        on_post(status_editor::ADD_PAGE, admin::add_page),
        on_post(status_editor::CHANGE_PAGE, admin::change_page),
        on_post(status_editor::DELETE_PAGE, admin::delete_page),
        on_post(status_editor::ADD_WIDGET, admin::add_widget),
        on_post(status_editor::CHANGE_WIDGET, admin::change_widget),
        on_post(status_editor::DELETE_WIDGET, admin::delete_widget),
        on_post(status_editor::MOVE_WIDGET, admin::move_widget),
        on_post(status_editor::ARRANGE_WIDGETS, admin::arrange_widgets),
        // Incidents, from the editor and from the operators' desk (app::pages::incidents).
        on_post(incident_forms::OPEN_INCIDENT, admin::open_incident),
        on_post(incident_forms::UPDATE_INCIDENT, admin::update_incident),
        on_post(incident_forms::DISMISS_PROPOSAL, admin::dismiss_proposal),
        on_post(status_editor::DELETE_INCIDENT, admin::delete_incident),
        on_post(status_editor::SET_MAIL_CHANNEL, admin::set_mail_channel),
        on_post(status_editor::ADD_WEBHOOK, admin::add_webhook),
        on_post(status_editor::DELETE_FOLLOWER, admin::delete_follower),
        on_post(status_editor::ADD_MAINTENANCE, admin::add_maintenance),
        on_post(status_editor::DELETE_MAINTENANCE, admin::delete_maintenance),
    ]
}

/// Every route the router serves, as method and path pattern: the plain routes, the Leptos pages
/// and the server functions, from what registers them. The route matrix test holds each against
/// the access policy. Not listed: the site's embedded files ([`embedded_site::routes`]), which
/// sit outside the visitor and access layers because a file needs no visitor.
pub fn served_routes() -> Vec<(Method, String)> {
    let plain = plain_routes(0)
        .into_iter()
        .map(|route| (route.method, route.path.to_owned()));
    let pages = route_list().into_iter().flat_map(|listing| {
        let path = listing.path().to_owned();
        listing
            .methods()
            .map(|method| (page_method(method), path.clone()))
            .collect::<Vec<_>>()
    });
    let server_fns =
        leptos::server_fn::axum::server_fn_paths().map(|(path, method)| (method, path.to_owned()));
    plain.chain(pages).chain(server_fns).collect()
}

fn page_method(method: leptos_router::Method) -> Method {
    match method {
        leptos_router::Method::Get => Method::GET,
        leptos_router::Method::Post => Method::POST,
        leptos_router::Method::Put => Method::PUT,
        leptos_router::Method::Delete => Method::DELETE,
        leptos_router::Method::Patch => Method::PATCH,
    }
}

/// The site's router, and the one the metrics address serves (used only when it is set).
async fn web_router(
    settings: &Settings,
    store: Store,
    ingest: IngestStatus,
    live: LiveHub,
    publisher: Publisher,
    series: SharedSeries,
    outbox: Arc<tokio::sync::Notify>,
) -> Result<(Router, Router), ConfigError> {
    // Leptos reads its own LEPTOS_* variables (set by cargo-leptos in development); the address
    // it is told about is ours.
    let mut leptos_options = get_configuration(None)
        .map_err(|error| ConfigError::Invalid {
            setting: "LEPTOS_* environment".to_owned(),
            problem: error.to_string(),
        })?
        .leptos_options;
    leptos_options.site_addr = settings.listen.value;

    let access = AccessPolicy::new(store.clone());
    let state = AppState::new(Parts {
        leptos_options: leptos_options.clone(),
        access: access.clone(),
        status_pages: StatusPages::new(
            store.clone(),
            access,
            series.clone(),
            settings.web.status_ttl,
            SiteInfo {
                public_url: settings
                    .web
                    .public_url
                    .as_ref()
                    .map(|url| url.value.as_str().trim_end_matches('/').to_owned()),
                theme_buttons: theme_buttons(),
            },
        ),
        store,
        ingest,
        live,
        series,
        outbox,
    });
    tokio::spawn(record_status_changes(state.status_pages.clone()));
    let sessions = web::sessions(&state.store, &settings.web)
        .await
        .map_err(|error| {
            settings
                .database_url
                .unusable(format!("creating the session table failed: {error}"))
        })?;
    let public_url = settings
        .web
        .public_url
        .as_ref()
        .map(|url| url.value.clone());
    let shortcut = status_pages::Shortcut {
        state: state.clone(),
        https: settings.web.is_https(),
    };
    let routes = route_list();
    // Room for the largest payload and topic, percent-encoded (three bytes each at worst).
    let publish_body_limit = 3 * (publisher.payload_limit() + 65_535) + 4096;
    let token = settings
        .web
        .metrics_token
        .as_ref()
        .map(|token| MetricsToken::new(token.value.expose()));
    // `cargo leptos watch` reloads its pages over a WebSocket of its own port.
    let header_settings = web::HeaderSettings {
        https: settings.web.is_https(),
        reload: std::env::var_os("LEPTOS_WATCH").map(|_| {
            let ip = leptos_options.site_addr.ip();
            format!("ws://{ip}:{}", leptos_options.reload_port).into()
        }),
    };
    let metrics_router = Router::new()
        .route(
            METRICS,
            get(metrics).layer(Extension(MetricsAccess::Token(token.clone()))),
        )
        .with_state(state.clone())
        .layer(web::compression())
        .layer(middleware::from_fn_with_state(
            header_settings.clone(),
            web::security_headers,
        ));
    // On the main listener only with a token, and only when the metrics have no address of
    // their own: anonymous by default, they showed private topics' traffic to anyone.
    let main_access = match (&settings.web.metrics_listen, token) {
        (None, Some(token)) => MetricsAccess::Token(Some(token)),
        _ => MetricsAccess::NotHere,
    };
    // Layers run outside in, from the last added: anonymous reads of status pages answered
    // before anything else (`status_pages::anonymous_shortcut`), then headers on every response
    // (refusals too), then the origin rule, then the session.
    let router = plain_routes(publish_body_limit)
        .into_iter()
        .fold(Router::new(), |router, route| {
            router.route(route.path, route.endpoint)
        })
        .leptos_routes(&state, routes, {
            let leptos_options = leptos_options.clone();
            move || shell(leptos_options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            login::resolve_visitor,
        ))
        .layer(Extension(login::LoginGuard::new(settings.web.is_https())))
        .layer(Extension(main_access))
        .layer(Extension(live::StreamPlaces::new(
            settings.web.limits.max_streams_per_user,
        )))
        // Behind an Arc: the layer clones it into every request.
        .layer(Extension(Arc::new(publisher)))
        .layer(Extension(login::SessionRefresh::for_idle(
            settings.web.session_idle,
        )))
        .with_state(state)
        .layer(sessions)
        .layer(middleware::from_fn_with_state(
            public_url,
            web::same_origin_only,
        ))
        .layer(web::compression());
    // A build without the site inside serves it from disk through Leptos' file handler (the
    // fallback above).
    let router = router
        .merge(embedded_site::routes())
        .layer(middleware::from_fn_with_state(
            web::BodyLimits {
                publish: publish_body_limit,
            },
            web::bounded_bodies,
        ))
        .layer(middleware::from_fn_with_state(
            header_settings,
            web::security_headers,
        ))
        .layer(middleware::from_fn_with_state(
            shortcut,
            status_pages::anonymous_shortcut,
        ));
    Ok((router, metrics_router))
}

/// How often every published page is rebuilt when nobody visits it, so its feed records status
/// changes within this long of the data.
const STATUS_RECHECK: Duration = Duration::from_secs(30);

async fn record_status_changes(pages: StatusPages) {
    let mut ticks = tokio::time::interval(STATUS_RECHECK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        // Never sooner than the TTL: a page is read from the database at most once per TTL.
        let age = STATUS_RECHECK.max(pages.ttl());
        if let Err(error) = pages.refresh_older_than(age).await {
            tracing::warn!(error = %error, "rechecking the status pages failed");
        }
    }
}

/// The process is alive and serving: what a supervisor restarts on. Nothing else is checked, so
/// a database outage does not get a healthy process killed.
async fn healthz() -> &'static str {
    "ok\n"
}

/// How long `/readyz` waits for the database before calling it unreachable.
const READY_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Ready to do its work: the database answers, storing messages works (a database that answers
/// a ping may still refuse every write: full, read-only, a failing disk) and the broker connection
/// is up. A load balancer sends traffic elsewhere while this is 503. Names the failing part,
/// never an address.
async fn readyz(axum::extract::State(state): axum::extract::State<AppState>) -> impl IntoResponse {
    let database = tokio::time::timeout(READY_CHECK_TIMEOUT, state.store.ping())
        .await
        .is_ok_and(|answered| answered.is_ok());
    let storage = !state.ingest.is_storage_failing();
    let broker = state.ingest.is_fully_connected();
    let word = |ok: bool, failing: &'static str| if ok { "ok" } else { failing };
    let status = if database && storage && broker {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        format!(
            "database {}\nstorage {}\nbroker {}\n",
            word(database, "unreachable"),
            word(storage, "failing"),
            word(broker, "unreachable")
        ),
    )
}

/// Who may read `/metrics` where it is routed. They name private topics' traffic (counts, the
/// last oversized topic), so never anyone by default.
#[derive(Clone)]
enum MetricsAccess {
    /// Not served on this listener: 404.
    NotHere,
    /// Served, to requests bearing the token when there is one.
    Token(Option<MetricsToken>),
}

/// The configured token, kept as its SHA-256 digest: a presented token is hashed and the two
/// digests compared in constant time, so neither the comparison nor the lengths tell an
/// attacker how much of a guess was right.
#[derive(Clone)]
struct MetricsToken([u8; 32]);

impl MetricsToken {
    fn new(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    fn admits(&self, headers: &axum::http::HeaderMap) -> bool {
        let presented = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map_or("", |(_, token)| token.trim());
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let difference = digest
            .iter()
            .zip(&self.0)
            .fold(0_u8, |difference, (a, b)| difference | (a ^ b));
        // Read through black_box so the compiler cannot stop at the first difference.
        std::hint::black_box(difference) == 0
    }
}

/// Prometheus scrapes this: counters, never a payload; see [`MetricsAccess`] for who may.
async fn metrics(
    axum::extract::State(state): axum::extract::State<AppState>,
    Extension(access): Extension<MetricsAccess>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    use axum::http::{header, StatusCode};
    match access {
        MetricsAccess::NotHere => return (StatusCode::NOT_FOUND, "Not found\n").into_response(),
        MetricsAccess::Token(Some(token)) if !token.admits(&headers) => {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer realm=\"lookout metrics\"")],
                "The metrics need the bearer token set in LOOKOUT_METRICS_TOKEN.\n",
            )
                .into_response()
        }
        MetricsAccess::Token(_) => {}
    }
    (
        [
            (
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        state.ingest.prometheus_text() + &state.status_pages.prometheus_text(),
    )
        .into_response()
}
