//! The browser entry point: hydrates the server-rendered page with the same `App`.
// The whole application's view types are nested into one at this crate's codegen.
#![recursion_limit = "256"]

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Lazy: a page whose code is split out is loaded before the page is hydrated.
    leptos::mount::hydrate_lazy(app::App);
}
