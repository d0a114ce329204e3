//! The theme buttons of the dashboard's header: a plain form, so choosing works without
//! JavaScript; the server sends the browser back to the page it came from. Which one is chosen
//! is shown by `/theme.css` (see `crate::domain::theme`), not by this markup, so it is the same
//! on every page and for everyone.

use crate::domain::theme::{Theme, CHOOSE_THEME};
use leptos::prelude::*;

#[component]
pub fn ThemeChoice() -> impl IntoView {
    let buttons = Theme::ALL
        .into_iter()
        .map(|theme| {
            view! {
                <button type="submit" name="theme" value=theme.key() title=theme.label()>
                    <span aria-hidden="true">{theme.symbol()}</span>
                    <span class="visually-hidden">{theme.label()}</span>
                </button>
            }
        })
        .collect_view();
    view! {
        <form method="post" action=CHOOSE_THEME class="theme-choice" aria-label="Colour theme">
            {buttons}
        </form>
    }
}
