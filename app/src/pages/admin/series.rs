//! `/admin/series`: the named series, numbers inside JSON payloads that history keeps on their
//! own (a JSON pointer into the payloads of the topics a filter matches, with a label and a unit),
//! with forms to add, rename and delete them. What a series is: [`crate::domain::series`].

use crate::components::load_error::LoadError;
use crate::components::outcome_message::{FieldProblem, FormId, OutcomeMessage};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// A series as the admin page shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeriesView {
    pub id: i32,
    pub topics: String,
    pub pointer: String,
    pub label: String,
    pub unit: String,
}

/// Every named series, oldest first.
#[server(endpoint = "admin_series", output = crate::domain::answer::JsonAnswer)]
pub async fn load_series() -> Result<Vec<SeriesView>, ServerFnError> {
    use super::unavailable;
    let state = crate::server::state::app_state()?;
    let series = state.store.value_series().await.map_err(unavailable)?;
    Ok(series
        .into_iter()
        .map(|series| SeriesView {
            id: series.id,
            topics: series.topics.as_str().to_owned(),
            pointer: series.pointer,
            label: series.label,
            unit: series.unit,
        })
        .collect())
}

/// `/admin/series`: the named series, with forms to add, rename and delete them.
#[component]
pub fn SeriesPage() -> impl IntoView {
    let series = Resource::new(|| (), |_| load_series());
    view! {
        <main class="admin">
            <h1>"Series"</h1>
            <p class="notice">
                "History charts the number a payload is (" <code>"21.5"</code> ") or holds alone ("
                <code>"{\"temperature\": 21.5}"</code> "). A series names one more: a field of "
                "the JSON payloads of some topics, such as " <code>"/humidity"</code> " of "
                <code>"sensors/+/climate"</code> ". Each is rolled up per minute, hour and day from "
                "the moment it is named (messages stored before are not), offered on its topics' "
                "pages, and deleted with its history. Its topics and field stay as named; its "
                "label and unit can change."
            </p>
            <OutcomeMessage/>
            <Suspense fallback=|| view! { <p>"Loading series…"</p> }>
                {move || Suspend::new(async move {
                    match series.await {
                        Ok(series) => view! { <SeriesTable series/> }.into_any(),
                        Err(error) => view! { <LoadError error/> }.into_any(),
                    }
                })}
            </Suspense>
        </main>
    }
}

/// The label and unit inputs of a series, joined to its form by the form's id.
#[component]
fn SeriesWordCells(form: String, series: Option<SeriesView>) -> impl IntoView {
    let [label, unit] = ["label", "unit"].map(|field| FieldProblem::new(&form, field));
    view! {
        <td>
            <input
                name="label"
                required
                maxlength="64"
                value=series.as_ref().map(|s| s.label.clone())
                placeholder="Humidity"
                form=form.clone()
                aria-label="Label"
                aria-invalid=label.invalid()
                aria-describedby=label.described_by()
            />
            {label.message()}
        </td>
        <td>
            <input
                name="unit"
                maxlength="16"
                value=series.as_ref().map(|s| s.unit.clone())
                placeholder="%"
                form=form
                aria-label="Unit"
                aria-invalid=unit.invalid()
                aria-describedby=unit.described_by()
            />
            {unit.message()}
        </td>
    }
}

#[component]
fn SeriesTable(series: Vec<SeriesView>) -> impl IntoView {
    let rows = series
        .into_iter()
        .map(|series| {
            let form = format!("series-{}", series.id);
            let (id, topics, pointer) = (series.id, series.topics.clone(), series.pointer.clone());
            view! {
                <tr data-series=id>
                    <td><code>{topics}</code></td>
                    <td><code>{pointer}</code></td>
                    <SeriesWordCells form=form.clone() series=Some(series)/>
                    <td class="actions">
                        <form method="post" action="/admin/series/change" id=form.clone()>
                            <FormId id=form.clone()/>
                            <input type="hidden" name="id" value=id/>
                            <button type="submit">"Save"</button>
                        </form>
                        <form method="post" action="/admin/series/delete">
                            <input type="hidden" name="id" value=id/>
                            <button type="submit">"Delete"</button>
                        </form>
                    </td>
                </tr>
            }
        })
        .collect_view();
    let new = "new-series";
    let [filter, pointer] = ["filter", "pointer"].map(|field| FieldProblem::new(new, field));
    view! {
            <table class="admin-table series">
                <thead>
                    <tr>
                        <th scope="col">"Topics"</th>
                        <th scope="col">"Field"</th>
                        <th scope="col">"Label"</th>
                        <th scope="col">"Unit"</th>
                        <th scope="col">"Change"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
                <tfoot>
                    <tr>
                        <td>
                            <input
                                name="filter"
                                required
                                maxlength="256"
                                placeholder="sensors/+/climate"
                                form=new
                                aria-label="Topics"
                                aria-invalid=filter.invalid()
                                aria-describedby=filter.described_by()
                            />
                            {filter.message()}
                        </td>
                        <td>
                            <input
                                name="pointer"
                                required
                                maxlength="200"
                                placeholder="/humidity"
                                form=new
                                aria-label="Field (JSON pointer)"
                                aria-invalid=pointer.invalid()
                                aria-describedby=pointer.described_by()
                            />
                            {pointer.message()}
                        </td>
                        <SeriesWordCells form=new.to_owned() series=None/>
                        <td class="actions">
                            <form method="post" action="/admin/series/add" id=new>
                                <FormId id=new/>
                                <button type="submit">"Add series"</button>
                            </form>
                        </td>
                    </tr>
                </tfoot>
            </table>
    }
}
