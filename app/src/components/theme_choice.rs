//! The theme buttons of the dashboard's header: a plain form, so choosing works without
//! JavaScript, which comes back to the page it was on. Which one is chosen is shown by
//! `/theme.css` (see `crate::domain::theme`), not by this markup, so it is the same for
//! everyone and needs no cookie read here.

use crate::domain::theme::{Theme, CHOOSE_THEME};
use leptos::prelude::*;
use leptos_router::hooks::use_location;

#[component]
pub fn ThemeChoice() -> impl IntoView {
    let location = use_location();
    let back = move || format!("{}{}", location.pathname.get(), location.search.get());
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
            <input type="hidden" name="back" value=back/>
            {buttons}
        </form>
    }
}
