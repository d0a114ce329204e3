//! `/topics`: the topic explorer. Every topic the user may read, as a tree of its levels (like
//! MQTT Explorer) with message counts and last values per node, search, expand and collapse, kept
//! live by the stream. Built for brokers with tens of thousands of topics: the tree changes in
//! place per message, the stream's messages are applied once per animation frame, and only the
//! rows in view are in the document.

use crate::components::live_stream::{server_signal, StreamOptions};
use crate::components::load_error::LoadError;
use crate::components::page_clock::PageClock;
use crate::domain::live::LiveMessage;
use crate::domain::topic_list::{TopicLatest, TopicList};
use crate::domain::topic_path::{topic_link_rel, topic_path};
use leptos::prelude::*;
use std::collections::{BTreeSet, HashMap};

/// One level of a topic name, and everything below it.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// This level's name (`temperature` in `plant/boiler/temperature`).
    pub level: String,
    /// The full name up to this level.
    pub path: String,
    /// Children in name order, as indices into [`TopicTree::nodes`].
    pub children: Vec<usize>,
    /// The topic of exactly this name, if one exists (a level can be both a topic and a parent).
    pub topic: Option<TopicLatest>,
    /// Topics at or below this node.
    pub topics: usize,
    /// Messages at or below this node.
    pub messages: i64,
    /// The newest message at or below this node.
    pub newest_ms: i64,
}

/// The topics as a tree. Nodes are only ever added, so an index names a node for good.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TopicTree {
    pub nodes: Vec<Node>,
    pub roots: Vec<usize>,
    by_path: HashMap<String, usize>,
    pub server_now_ms: i64,
}

/// A row of the explorer as drawn: a node at a depth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Row {
    pub node: usize,
    pub depth: usize,
}

impl From<TopicList> for TopicTree {
    fn from(list: TopicList) -> Self {
        let mut tree = TopicTree {
            server_now_ms: list.server_now_ms,
            ..TopicTree::default()
        };
        for topic in list.topics {
            tree.upsert(topic);
        }
        tree
    }
}

impl TopicTree {
    /// Takes a live message in: the topic's value and the counts of every level above it move.
    pub fn apply(&mut self, message: &LiveMessage) {
        self.upsert(TopicLatest {
            name: message.topic.clone(),
            preview: message.preview.clone(),
            received_at_ms: message.at_ms,
            message_count: 1 + message.replaced as i64,
        });
    }

    /// Adds a topic or, for one already here, a newer state of it (whose `message_count` is how
    /// many messages it adds). Anything older than what the tree holds is ignored.
    fn upsert(&mut self, topic: TopicLatest) {
        let leaf = self.node_for(&topic.name);
        let (added_topics, added_messages) = match &mut self.nodes[leaf].topic {
            Some(known) if topic.received_at_ms <= known.received_at_ms => return,
            Some(known) => {
                let added = topic.message_count;
                known.preview = topic.preview;
                known.received_at_ms = topic.received_at_ms;
                known.message_count += added;
                (0, added)
            }
            slot @ None => {
                let added = topic.message_count;
                *slot = Some(topic.clone());
                (1, added)
            }
        };
        let at_ms = topic.received_at_ms;
        let mut path_end = Some(topic.name.len());
        while let Some(end) = path_end {
            let node = &mut self.nodes[self.by_path[&topic.name[..end]]];
            node.topics += added_topics;
            node.messages += added_messages;
            node.newest_ms = node.newest_ms.max(at_ms);
            path_end = topic.name[..end].rfind('/');
        }
    }

    /// The node of `name`, creating it and the levels above it as needed.
    fn node_for(&mut self, name: &str) -> usize {
        if let Some(&found) = self.by_path.get(name) {
            return found;
        }
        let (parent, level) = match name.rfind('/') {
            Some(cut) => (Some(self.node_for(&name[..cut])), &name[cut + 1..]),
            None => (None, name),
        };
        let index = self.nodes.len();
        self.nodes.push(Node {
            level: level.to_owned(),
            path: name.to_owned(),
            children: Vec::new(),
            topic: None,
            topics: 0,
            messages: 0,
            newest_ms: 0,
        });
        self.by_path.insert(name.to_owned(), index);
        let nodes = &self.nodes;
        let siblings = match parent {
            Some(parent) => &self.nodes[parent].children,
            None => &self.roots,
        };
        let position = siblings
            .binary_search_by(|&other| nodes[other].level.as_str().cmp(level))
            .unwrap_or_else(|position| position);
        match parent {
            Some(parent) => self.nodes[parent].children.insert(position, index),
            None => self.roots.insert(position, index),
        }
        index
    }

    /// The rows to draw: the children of expanded nodes, depth first. With a search, only nodes
    /// whose name contains it (in any letter case) and the levels above them, all open.
    pub fn rows(&self, expanded: &BTreeSet<String>, search: &str) -> Vec<Row> {
        let search = search.trim().to_lowercase();
        let matches: Option<Vec<bool>> = (!search.is_empty()).then(|| self.matching(&search));
        let mut rows = Vec::new();
        let mut stack: Vec<Row> = self
            .roots
            .iter()
            .rev()
            .map(|&node| Row { node, depth: 0 })
            .collect();
        while let Some(row) = stack.pop() {
            let node = &self.nodes[row.node];
            if matches.as_ref().is_some_and(|matches| !matches[row.node]) {
                continue;
            }
            rows.push(row);
            let open = matches.is_some() || expanded.contains(&node.path);
            if open {
                stack.extend(node.children.iter().rev().map(|&child| Row {
                    node: child,
                    depth: row.depth + 1,
                }));
            }
        }
        rows
    }

    /// Per node: whether it or anything below it contains `search`.
    fn matching(&self, search: &str) -> Vec<bool> {
        let mut matches = vec![false; self.nodes.len()];
        // Children always come after their parent in `nodes`, so one pass from the end settles
        // every child before its parent.
        for index in (0..self.nodes.len()).rev() {
            let node = &self.nodes[index];
            if matches[index] || node.path.to_lowercase().contains(search) {
                matches[index] = true;
                if let Some(cut) = node.path.rfind('/') {
                    matches[self.by_path[&node.path[..cut]]] = true;
                }
            }
        }
        matches
    }
}

/// The height of one row in pixels before it is measured: style/main.css makes rows this tall
/// with a fine pointer on a wide screen, and a fingertip tall (44 px) on touch screens and
/// narrow ones; the explorer measures a drawn row to know which.
const ROW_PX: f64 = 30.0;
/// Rows drawn above and below the visible ones, so fast scrolling shows no blank band.
const OVERSCAN: usize = 10;
/// Rows drawn before the page is hydrated (and without JavaScript), when the scroll position is
/// not known.
const FIRST_ROWS: usize = 200;

/// How many topics the explorer loads at most.
pub const TOPIC_TREE_LIMIT: usize = 100_000;

/// Every topic the visitor may read, up to [`TOPIC_TREE_LIMIT`], as the overview reads them a
/// page at a time.
#[server(endpoint = "topic_tree", output = crate::domain::answer::JsonAnswer)]
pub async fn load_topic_tree() -> Result<TopicList, ServerFnError> {
    use crate::server::topic_list::readable_page;
    let page = readable_page(
        crate::server::store::topics::TopicWalk::First,
        TOPIC_TREE_LIMIT,
    )
    .await?;
    Ok(page.list)
}

#[component]
pub fn ExplorerPage() -> impl IntoView {
    let query = leptos_router::hooks::use_query_map();
    let snapshot = Resource::new(|| (), |_| load_topic_tree());
    let initial_search = query.read_untracked().get("q").unwrap_or_default();
    view! {
        <main class="explorer">
            <h1>"Topic explorer"</h1>
            <Suspense fallback=|| view! { <p>"Loading topics…"</p> }>
                {move || {
                    let search = initial_search.clone();
                    Suspend::new(async move {
                        match snapshot.await {
                            Ok(list) => view! { <Explorer list search/> }.into_any(),
                            Err(error) => {
                                view! { <LoadError error/> }
                                    .into_any()
                            }
                        }
                    })
                }}
            </Suspense>
        </main>
    }
}

#[component]
fn Explorer(list: TopicList, search: String) -> impl IntoView {
    let clock = PageClock::start();
    let age_of = clock.age_from(list.server_now_ms);
    // Counts must be exact, so the explorer follows every message (applied per animation
    // frame), not a conflated stream.
    let (tree, stream) = server_signal(
        TopicTree::from(list),
        StreamOptions::default(),
        TopicTree::apply,
        || async { load_topic_tree().await.ok().map(TopicTree::from) },
    );
    // Top levels open at first when there are few of them.
    let expanded = RwSignal::new(tree.with_untracked(|tree| {
        if tree.roots.len() <= 3 {
            tree.roots
                .iter()
                .map(|&root| tree.nodes[root].path.clone())
                .collect()
        } else {
            BTreeSet::new()
        }
    }));
    let search = RwSignal::new(search);
    let rows = Memo::new(move |_| {
        let search = search.get();
        expanded.with(|expanded| tree.with(|tree| tree.rows(expanded, &search)))
    });
    let scroll_top = RwSignal::new(0.0_f64);
    let viewport_px = RwSignal::new(600.0_f64);
    let row_px = RwSignal::new(ROW_PX);
    let viewport = NodeRef::<leptos::html::Div>::new();
    let measure = move || {
        if let Some(element) = viewport.get_untracked() {
            viewport_px.set(f64::from(element.client_height()));
            // Rows draw their separator inside their box, so the client height is the row's.
            if let Ok(Some(row)) = element.query_selector(".explorer-row") {
                let height = f64::from(row.client_height());
                if height > 0.0 && height != row_px.get_untracked() {
                    row_px.set(height);
                }
            }
        }
    };
    // Measured once the box exists and again when the first rows appear in an empty tree.
    Effect::new(move |_| {
        let _ = (viewport.get(), rows.with(Vec::is_empty));
        measure();
    });
    // Turning a phone or resizing a window can change the row height the style chose.
    let resize = window_event_listener(leptos::ev::resize, move |_| measure());
    on_cleanup(move || resize.remove());
    // Before hydration every row up to FIRST_ROWS is drawn plainly (no inline styles, which the
    // page's Content-Security-Policy forbids in markup); afterwards only the rows in view.
    let window = Memo::new(move |_| {
        rows.with(|rows| {
            if !clock.hydrated.get() {
                return (0, rows.iter().take(FIRST_ROWS).copied().collect::<Vec<_>>());
            }
            let row_px = row_px.get();
            let first = ((scroll_top.get() / row_px) as usize).saturating_sub(OVERSCAN);
            let count = (viewport_px.get() / row_px) as usize + 2 * OVERSCAN;
            let end = (first + count).min(rows.len());
            let first = first.min(end);
            (first, rows[first..end].to_vec())
        })
    });
    // Sized and moved through the DOM (effects run only in the browser): the full height keeps
    // the scroll bar true to the whole list, the offset puts the drawn rows where they belong.
    let canvas = NodeRef::<leptos::html::Div>::new();
    let drawn = NodeRef::<leptos::html::Div>::new();
    Effect::new(move |_| {
        let row_px = row_px.get();
        let height = rows.with(Vec::len) as f64 * row_px;
        let offset = window.with(|(first, _)| *first) as f64 * row_px;
        if let (Some(canvas), Some(drawn)) = (canvas.get(), drawn.get()) {
            // Named in full: tachys' own `style` method on elements would be picked otherwise.
            let style = leptos::web_sys::HtmlElement::style;
            let _ = style(&canvas).set_property("height", &format!("{height}px"));
            let _ = style(&drawn).set_property("transform", &format!("translateY({offset}px)"));
        }
    });
    let toggle = move |path: String| {
        expanded.update(|expanded| {
            if !expanded.remove(&path) {
                expanded.insert(path);
            }
        })
    };
    view! {
        <div class="explorer-view" data-hydrated=move || clock.hydrated.get().to_string()>
            <form class="explorer-search" method="get" role="search">
                <label>
                    "Search topics "
                    <input
                        type="search"
                        name="q"
                        prop:value=move || search.get()
                        on:input=move |event| search.set(event_target_value(&event))
                    />
                </label>
                <button type="submit">"Search"</button>
                <span class="live-state" data-state=move || stream.get().label()>
                    {move || stream.get().label()}
                </span>
                <span class="explorer-counts">
                    {move || {
                        tree.with(|tree| {
                            let topics: usize = tree.roots.iter().map(|&r| tree.nodes[r].topics).sum();
                            format!("{topics} topics, {} rows", rows.with(Vec::len))
                        })
                    }}
                </span>
            </form>
            <div
                class="explorer-rows"
                role="tree"
                aria-label="Topics"
                node_ref=viewport
                on:scroll=move |event| {
                    let element = event_target::<leptos::web_sys::Element>(&event);
                    scroll_top.set(f64::from(element.scroll_top()));
                }
            >
                <div class="explorer-canvas" node_ref=canvas>
                    <div class="explorer-window" node_ref=drawn>
                        <For each=move || window.get().1 key=|row| row.node let(row)>
                            <ExplorerRow row tree expanded toggle age_of/>
                        </For>
                    </div>
                </div>
            </div>
        </div>
    }
}

#[component]
fn ExplorerRow(
    row: Row,
    tree: ReadSignal<TopicTree>,
    expanded: RwSignal<BTreeSet<String>>,
    toggle: impl Fn(String) + Copy + Send + Sync + 'static,
    age_of: impl Fn(i64) -> String + Copy + Send + Sync + 'static,
) -> impl IntoView {
    // Each part of the row follows only what it shows, so a message redraws just those parts.
    let index = row.node;
    let preview = Memo::new(move |_| {
        tree.with(|tree| tree.nodes[index].topic.as_ref().map(|t| t.preview.clone()))
    });
    let counts = Memo::new(move |_| {
        tree.with(|tree| {
            let node = &tree.nodes[index];
            (node.children.is_empty(), node.topics, node.messages)
        })
    });
    let newest_ms = Memo::new(move |_| tree.with(|tree| tree.nodes[index].newest_ms));
    let (path, level, has_children) = tree.with_untracked(|tree| {
        let node = &tree.nodes[index];
        (
            node.path.clone(),
            node.level.clone(),
            !node.children.is_empty(),
        )
    });
    let is_open = {
        let path = path.clone();
        Memo::new(move |_| expanded.with(|expanded| expanded.contains(&path)))
    };
    let toggle_button = has_children.then(|| {
        let path = path.clone();
        view! {
            <button
                type="button"
                class="toggle"
                aria-label=move || if is_open.get() { "Collapse" } else { "Expand" }
                on:click=move |_| toggle(path.clone())
            >
                {move || if is_open.get() { "▾" } else { "▸" }}
            </button>
        }
    });
    let (href, rel) = (topic_path(&path), topic_link_rel(&path));
    view! {
        <div
            class=format!("explorer-row depth-{}", row.depth.min(12))
            role="treeitem"
            aria-expanded=move || has_children.then(|| is_open.get().to_string())
            data-path=path
        >
            {toggle_button}
            {move || match preview.with(Option::is_some) {
                true => view! { <a class="level" href=href.clone() rel=rel>{level.clone()}</a> }.into_any(),
                false => view! { <span class="level">{level.clone()}</span> }.into_any(),
            }}
            <span class="value">
                {move || preview.get().map(|preview| view! { <code>{preview}</code> })}
            </span>
            <span class="counts">
                {move || match counts.get() {
                    (true, _, messages) => format!("{messages} msgs"),
                    (false, topics, messages) => format!("{topics} topics, {messages} msgs"),
                }}
            </span>
            <span class="age">{move || age_of(newest_ms.get())}</span>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(name: &str, at_ms: i64, count: i64) -> TopicLatest {
        TopicLatest {
            name: name.into(),
            preview: format!("{name}@{at_ms}"),
            received_at_ms: at_ms,
            message_count: count,
        }
    }

    fn tree(topics: &[TopicLatest]) -> TopicTree {
        TopicTree::from(TopicList {
            topics: topics.to_vec(),
            server_now_ms: 0,
        })
    }

    fn paths(tree: &TopicTree, rows: &[Row]) -> Vec<String> {
        rows.iter()
            .map(|row| format!("{}{}", "  ".repeat(row.depth), tree.nodes[row.node].level))
            .collect()
    }

    #[test]
    fn levels_become_nodes_with_counts_summed_upwards() {
        let tree = tree(&[
            topic("plant/boiler/temp", 5, 10),
            topic("plant/boiler", 7, 1),
            topic("plant/pump/rpm", 3, 4),
            topic("office", 9, 2),
        ]);
        let plant = &tree.nodes[tree.by_path["plant"]];
        assert_eq!((plant.topics, plant.messages, plant.newest_ms), (3, 15, 7));
        let boiler = &tree.nodes[tree.by_path["plant/boiler"]];
        assert_eq!((boiler.topics, boiler.messages), (2, 11));
        assert!(
            boiler.topic.is_some(),
            "a level can be a topic and a parent"
        );
        let all: BTreeSet<String> = tree.nodes.iter().map(|n| n.path.clone()).collect();
        assert_eq!(
            paths(&tree, &tree.rows(&all, "")),
            ["office", "plant", "  boiler", "    temp", "  pump", "    rpm"]
        );
        let closed = BTreeSet::from(["plant".to_owned()]);
        assert_eq!(
            paths(&tree, &tree.rows(&closed, "")),
            ["office", "plant", "  boiler", "  pump"]
        );
    }

    #[test]
    fn live_messages_count_up_the_levels_and_older_ones_change_nothing() {
        let mut tree = tree(&[topic("a/b", 10, 3)]);
        let message = |topic: &str, at_ms: i64, replaced: u64| LiveMessage {
            topic: topic.into(),
            at_ms,
            kind: crate::domain::payload::PayloadKind::Text,
            size: 1,
            payload: "x".into(),
            truncated: false,
            preview: "x".into(),
            value: None,
            retain: false,
            qos: 0,
            replaced,
        };
        tree.apply(&message("a/b", 20, 4));
        tree.apply(&message("a/c", 30, 0));
        tree.apply(&message("a/b", 15, 0));
        let a = &tree.nodes[tree.by_path["a"]];
        assert_eq!((a.topics, a.messages, a.newest_ms), (2, 3 + 5 + 1, 30));
        let b = tree.nodes[tree.by_path["a/b"]].topic.clone().unwrap();
        assert_eq!((b.received_at_ms, b.message_count), (20, 8));
    }

    #[test]
    fn a_search_shows_matches_with_the_levels_above_them_open() {
        let tree = tree(&[
            topic("plant/boiler/temp", 1, 1),
            topic("plant/pump/rpm", 1, 1),
            topic("office/Temp", 1, 1),
        ]);
        assert_eq!(
            paths(&tree, &tree.rows(&BTreeSet::new(), "TEMP")),
            ["office", "  Temp", "plant", "  boiler", "    temp"]
        );
        assert!(tree.rows(&BTreeSet::new(), "nothing").is_empty());
    }

    #[test]
    fn ten_thousand_topics_share_their_levels_in_one_tree() {
        let topics: Vec<TopicLatest> = (0..10_000)
            .map(|n| topic(&format!("site/{}/device/{n}", n % 50), n, 1))
            .collect();
        let tree = tree(&topics);
        let everything: BTreeSet<String> = tree.nodes.iter().map(|n| n.path.clone()).collect();
        assert_eq!(tree.rows(&everything, "").len(), tree.nodes.len());
        assert_eq!(tree.nodes[tree.by_path["site"]].topics, 10_000);
    }
}
