//! The outcome of an admin's last form post, named in the query (`?done=CODE` or `?error=CODE`,
//! and `&form_id=ID` when a refusal is about one field of that form) and shown as the fixed text
//! of that code: at the top of the page, and below the refused field.

use crate::domain::outcome::{Outcome, FORM_ID};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use std::sync::Arc;

/// The outcome named in the query, if any. A refusal that belongs to a field is said in full
/// below that field ([`FieldProblem`]); the top of the page then links to it.
#[component]
pub fn OutcomeMessage() -> impl IntoView {
    let query = use_query_map();
    move || {
        let query = query.read();
        let done = query.get("done").and_then(|code| Outcome::from_code(&code));
        let error = query
            .get("error")
            .and_then(|code| Outcome::from_code(&code));
        match (
            done.filter(|o| !o.is_error()),
            error.filter(|o| o.is_error()),
        ) {
            (_, Some(error)) => {
                let at_field = error
                    .field()
                    .zip(query.get(FORM_ID))
                    .map(|(field, form_id)| problem_id(&form_id, field));
                Some(match at_field {
                    Some(id) => view! {
                        <p class="error" role="alert">
                            "Nothing was changed: " <a href=format!("#{id}")>{error.text()}</a>
                        </p>
                    }
                    .into_any(),
                    None => view! { <p class="error" role="alert">{error.text()}</p> }.into_any(),
                })
            }
            (Some(done), None) => {
                Some(view! { <p class="done" role="status">{done.text()}</p> }.into_any())
            }
            (None, None) => None,
        }
    }
}

fn problem_id(form_id: &str, field: &str) -> String {
    format!("{form_id}-{field}-problem")
}

/// What the page says at one field of one form when the last post was refused over it: the
/// field is marked invalid and described by the reason, written below it.
#[derive(Clone)]
pub struct FieldProblem {
    id: Arc<str>,
    text: Memo<Option<&'static str>>,
}

impl FieldProblem {
    /// For the field named `field` of the form whose [`FORM_ID`] is `form_id`.
    pub fn new(form_id: &str, field: &'static str) -> Self {
        let query = use_query_map();
        let own_form = form_id.to_owned();
        let text = Memo::new(move |_| {
            let query = query.read();
            let error = query
                .get("error")
                .and_then(|code| Outcome::from_code(&code))?;
            (query.get(FORM_ID).as_deref() == Some(own_form.as_str())
                && error.field() == Some(field))
            .then(|| error.text())
        });
        FieldProblem {
            id: problem_id(form_id, field).into(),
            text,
        }
    }

    /// The field's `aria-invalid`.
    pub fn invalid(&self) -> impl Fn() -> Option<&'static str> + Send + Sync + 'static {
        let text = self.text;
        move || text.with(Option::is_some).then_some("true")
    }

    /// The field's `aria-describedby`.
    pub fn described_by(&self) -> impl Fn() -> Option<String> + Send + Sync + 'static {
        let (text, id) = (self.text, self.id.clone());
        move || text.with(Option::is_some).then(|| id.to_string())
    }

    /// The reason, placed right after the field.
    pub fn message(&self) -> impl IntoView {
        let (text, id) = (self.text, self.id.clone());
        move || {
            text.get().map(|text| {
                view! { <p class="field-error" id=id.to_string()>{text}</p> }
            })
        }
    }
}

/// The hidden field that names the form it is in, so a refusal comes back to that form.
#[component]
pub fn FormId(
    #[prop(into)] id: String,
    #[prop(optional, into)] form: Option<String>,
) -> impl IntoView {
    view! { <input type="hidden" name=FORM_ID value=id form=form/> }
}
