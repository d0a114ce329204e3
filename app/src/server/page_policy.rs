//! The Content-Security-Policy of the application's pages and the nonce their scripts carry.
//! The nonce is made per request before the page renders (`PageNonce`, put into the request by
//! the server's header middleware), so the policy header is written by that middleware from the
//! same value the page used, rather than handed back from inside the render: handed back through
//! Leptos' response options it went missing now and then on lazily loaded pages, and the page
//! then ran under the policy that allows nothing.

use leptos::nonce::Nonce;

/// The nonce of one page's scripts.
#[derive(Clone, Debug)]
pub struct PageNonce(pub Nonce);

impl PageNonce {
    pub fn generate() -> Self {
        Self(Nonce::new())
    }
}

/// The policy of a page whose scripts carry `nonce`: scripts only with it (the hydration script
/// carries it) and the wasm they load, nothing framed, nothing sent elsewhere. `reload` is the
/// address of `cargo leptos watch`'s reload socket, when it runs.
pub fn page_policy(nonce: &PageNonce, reload: Option<&str>) -> String {
    let reload = reload.map(|url| format!(" {url}")).unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{}' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data:; connect-src 'self'{reload}; \
         frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'",
        nonce.0
    )
}
