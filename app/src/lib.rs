//! The Leptos application, in layers that each use only those below them (docs/architecture.md):
//! the domain, the server-only services (behind the `ssr` feature, so they never reach the
//! browser bundle), components and pages. This file declares them, the HTML shell and the routes.

pub mod components;
pub mod domain;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod server;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Meta, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    lazy_route, Lazy, LazyRoute, ParamSegment, SsrMode, StaticSegment, WildcardSegment,
};

/// The HTML document around the application, rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    use_request_nonce();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <AutoReload options=options.clone()/>
                <Hydration options=options.clone()/>
                <MetaTags/>
                // After the main stylesheet: it holds the colour scheme this browser chose.
                <link rel="stylesheet" href=domain::theme::THEME_CSS/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// Hydrates the page once the browser is first idle, fetching the script and the wasm only
/// then. The page is complete as the server rendered it, so it paints at once; fetched earlier (as
/// Leptos' `HydrationScripts` does, with preload links), the wasm competed with that first paint
/// on a slow phone and Lighthouse counted its download into the largest paint (2.4 s instead of
/// 1 s). Lazily loaded routes fetch their own wasm when the page hydrates.
#[component]
fn Hydration(options: LeptosOptions) -> impl IntoView {
    let package = format!("/{}/{}", options.site_pkg_dir, options.output_name);
    // cargo-leptos names the wasm after the package; a plain wasm-bindgen build adds `_bg`.
    let wasm_suffix = if option_env!("LEPTOS_OUTPUT_NAME").is_some() {
        ""
    } else {
        "_bg"
    };
    let script = format!(
        "const start = () => import('{package}.js').then((module) => \
             module.default({{ module_or_path: '{package}{wasm_suffix}.wasm' }}) \
                 .then(() => module.hydrate())); \
         if ('requestIdleCallback' in window) {{ \
             requestIdleCallback(start, {{ timeout: 2000 }}); \
         }} else {{ \
             setTimeout(start, 0); \
         }}"
    );
    view! { <script type="module" nonce=leptos::nonce::use_nonce()>{script}</script> }
}

/// The page's scripts carry the nonce the server's header middleware made for this request
/// (`server::page_policy`), which writes the policy allowing it. Provided over the one Leptos
/// makes, so the hydration data scripts carry it too.
#[cfg(feature = "ssr")]
fn use_request_nonce() {
    let nonce = use_context::<axum::http::request::Parts>().and_then(|parts| {
        parts
            .extensions
            .get::<server::page_policy::PageNonce>()
            .cloned()
    });
    if let Some(nonce) = nonce {
        provide_context(nonce.0);
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();

    view! {
        <Stylesheet id="leptos" href="/pkg/lookout.css"/>
        <Title text="Lookout"/>
        <Meta
            name="description"
            content="Lookout: live MQTT topics, devices and status pages from your broker."
        />
        <Router>
            <header class="site-header">
                <a class="brand" href="/">"Lookout"</a>
                <components::account_menu::AccountMenu/>
                <components::theme_choice::ThemeChoice/>
            </header>
            <Routes fallback=components::not_found::NotFound>
                // Async: the whole page is rendered before it is sent, so it is complete without
                // JavaScript (out-of-order streaming would need a script to fill it in).
                <Route path=StaticSegment("") view=pages::overview::TopicsPage ssr=SsrMode::Async/>
                <Route path=StaticSegment("topics") view=pages::explorer::ExplorerPage ssr=SsrMode::Async/>
                <Route path=StaticSegment("login") view=pages::login::LoginPage ssr=SsrMode::Async/>
                <Route
                    path=StaticSegment("devices")
                    view=pages::devices::DevicesPage
                    ssr=SsrMode::Async
                />
                <Route
                    path=StaticSegment("publish")
                    view={Lazy::<PublishRoute>::new()}
                    ssr=SsrMode::Async
                />
                <Route
                    path=(StaticSegment("topic"), WildcardSegment("name"))
                    view={Lazy::<TopicRoute>::new()}
                    ssr=SsrMode::Async
                />
                <Route
                    path=StaticSegment("account")
                    view={Lazy::<AccountRoute>::new()}
                    ssr=SsrMode::Async
                />
                <Route
                    path=StaticSegment("incidents")
                    view={Lazy::<IncidentDeskRoute>::new()}
                    ssr=SsrMode::Async
                />
                <Route
                    path=(StaticSegment("admin"), StaticSegment("users"))
                    view={Lazy::<UsersRoute>::new()}
                    ssr=SsrMode::Async
                />
                <Route
                    path=(StaticSegment("admin"), StaticSegment("rules"))
                    view={Lazy::<RulesRoute>::new()}
                    ssr=SsrMode::Async
                />
                <Route
                    path=(StaticSegment("admin"), StaticSegment("pages"))
                    view={Lazy::<StatusPagesRoute>::new()}
                    ssr=SsrMode::Async
                />
                <Route
                    path=(StaticSegment("admin"), StaticSegment("pages"), ParamSegment("id"))
                    view={Lazy::<StatusPageEditorRoute>::new()}
                    ssr=SsrMode::Async
                />
                <Route
                    path=(StaticSegment("admin"), StaticSegment("devices"))
                    view={Lazy::<DeviceRulesRoute>::new()}
                    ssr=SsrMode::Async
                />
                <Route
                    path=(StaticSegment("admin"), StaticSegment("series"))
                    view={Lazy::<SeriesRoute>::new()}
                    ssr=SsrMode::Async
                />
                <Route
                    path=(StaticSegment("admin"), StaticSegment("alerts"))
                    view={Lazy::<AlertsRoute>::new()}
                    ssr=SsrMode::Async
                />
            </Routes>
        </Router>
    }
}

/// Declares a route whose page the browser loads only when it is opened: cargo-leptos `--split`
/// moves its code out of the main wasm module into chunks fetched on first use. Every operator
/// loads the main module; these pages are for some roles only (publishing, administration) or
/// opened one topic at a time from the overview and the explorer, and they were a quarter of the
/// compressed bundle (bench/results/footprint.md). The page's data loads inside the chunk too:
/// on a first visit through the router that is one round trip after the chunk, but none of its
/// decoding stays in the main module.
macro_rules! page_loaded_when_opened {
    ($route:ident, $page:path) => {
        struct $route;

        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                $route
            }

            fn view(_this: Self) -> AnyView {
                $page().into_any()
            }
        }
    };
}

page_loaded_when_opened!(TopicRoute, pages::topic::TopicPage);
page_loaded_when_opened!(PublishRoute, pages::publish::PublishPage);
page_loaded_when_opened!(IncidentDeskRoute, pages::incidents::IncidentDesk);
page_loaded_when_opened!(AccountRoute, pages::account::AccountPage);
page_loaded_when_opened!(UsersRoute, pages::admin::users::UsersPage);
page_loaded_when_opened!(RulesRoute, pages::admin::rules::RulesPage);
page_loaded_when_opened!(
    StatusPagesRoute,
    pages::admin::status_pages::StatusPagesPage
);
page_loaded_when_opened!(
    StatusPageEditorRoute,
    pages::admin::status_pages::StatusPageEditor
);
page_loaded_when_opened!(
    DeviceRulesRoute,
    pages::admin::device_rules::DeviceRulesPage
);
page_loaded_when_opened!(SeriesRoute, pages::admin::series::SeriesPage);
page_loaded_when_opened!(AlertsRoute, pages::admin::alerts::AlertsPage);
