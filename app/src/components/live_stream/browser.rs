//! The stream in the browser: an `EventSource`, reconnected when it gives up, with messages
//! handed to the page once per animation frame.

use super::{StreamOptions, StreamState};
use crate::domain::live::LiveMessage;
use leptos::prelude::*;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{EventSource, MessageEvent};

/// The open stream; closed when dropped.
pub struct Connection {
    inner: Rc<RefCell<Inner>>,
}

struct Inner {
    options: StreamOptions,
    state: WriteSignal<StreamState>,
    // Shared, so each is called with no borrow of `Inner` held: a handler may end the page,
    // and with it this connection.
    on_messages: Rc<dyn Fn(Vec<LiveMessage>)>,
    on_resync: Rc<dyn Fn()>,
    source: Option<EventSource>,
    /// The listeners of `source`, kept alive as long as it is.
    listeners: Vec<Closure<dyn FnMut(web_sys::Event)>>,
    /// Arrived since the last animation frame.
    pending: Vec<LiveMessage>,
    /// From the last `replaced` event: per topic, what its next message stands for besides
    /// itself.
    replaced: std::collections::HashMap<String, u64>,
    frame_requested: bool,
    /// The last event id seen, to resume from when a new `EventSource` replaces a closed one.
    last_event_id: Option<String>,
    retry_in: Duration,
    closed: bool,
}

/// After the browser gives up on a stream (the server refused it or went away), the next try
/// waits this long, doubling up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);

impl Connection {
    pub fn open(
        options: StreamOptions,
        state: WriteSignal<StreamState>,
        on_messages: impl Fn(Vec<LiveMessage>) + 'static,
        on_resync: impl Fn() + 'static,
    ) -> Self {
        let inner = Rc::new(RefCell::new(Inner {
            options,
            state,
            on_messages: Rc::new(on_messages),
            on_resync: Rc::new(on_resync),
            source: None,
            listeners: Vec::new(),
            pending: Vec::new(),
            replaced: Default::default(),
            frame_requested: false,
            last_event_id: None,
            retry_in: RETRY_FIRST,
            closed: false,
        }));
        connect(&inner);
        Self { inner }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        let mut inner = self.inner.borrow_mut();
        inner.closed = true;
        if let Some(source) = inner.source.take() {
            source.close();
        }
        inner.listeners.clear();
    }
}

fn connect(inner: &Rc<RefCell<Inner>>) {
    let url = {
        let inner = inner.borrow();
        if inner.closed {
            return;
        }
        inner.options.url(inner.last_event_id.as_deref())
    };
    let Ok(source) = EventSource::new(&url) else {
        retry_later(inner);
        return;
    };
    let mut listeners = Vec::new();
    let mut listen = |name: &str, handler: fn(&Rc<RefCell<Inner>>, web_sys::Event)| {
        let weak = Rc::downgrade(inner);
        let closure = Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
            if let Some(inner) = weak.upgrade() {
                handler(&inner, event);
            }
        });
        let _ = source.add_event_listener_with_callback(name, closure.as_ref().unchecked_ref());
        listeners.push(closure);
    };
    listen("open", on_open);
    listen("message", on_message);
    listen("resync", on_resync);
    listen("replaced", on_replaced);
    listen("error", on_error);
    let mut state = inner.borrow_mut();
    if let Some(old) = state.source.replace(source) {
        old.close();
    }
    state.listeners = listeners;
}

fn on_open(inner: &Rc<RefCell<Inner>>, _: web_sys::Event) {
    let mut inner = inner.borrow_mut();
    inner.retry_in = RETRY_FIRST;
    inner.state.set(StreamState::Live);
}

fn on_message(inner: &Rc<RefCell<Inner>>, event: web_sys::Event) {
    let Some(event) = event.dyn_ref::<MessageEvent>() else {
        return;
    };
    let Some(data) = event.data().as_string() else {
        return;
    };
    let Ok(mut message) = serde_json::from_str::<LiveMessage>(&data) else {
        return;
    };
    let request_frame = {
        let mut state = inner.borrow_mut();
        message.replaced = state.replaced.remove(&message.topic).unwrap_or(0);
        state.last_event_id = Some(event.last_event_id());
        state.pending.push(message);
        !std::mem::replace(&mut state.frame_requested, true)
    };
    if request_frame {
        let weak = Rc::downgrade(inner);
        request_animation_frame(move || {
            if let Some(inner) = weak.upgrade() {
                deliver(&inner);
            }
        });
    }
}

/// Hands what arrived since the last frame to the page.
fn deliver(inner: &Rc<RefCell<Inner>>) {
    let (batch, handler) = {
        let mut state = inner.borrow_mut();
        state.frame_requested = false;
        (
            std::mem::take(&mut state.pending),
            state.on_messages.clone(),
        )
    };
    if !batch.is_empty() {
        handler(batch);
    }
}

fn on_resync(inner: &Rc<RefCell<Inner>>, _: web_sys::Event) {
    // What already arrived goes first; the refetched snapshot then covers the gap.
    deliver(inner);
    let handler = inner.borrow().on_resync.clone();
    handler();
}

fn on_replaced(inner: &Rc<RefCell<Inner>>, event: web_sys::Event) {
    let counts = event
        .dyn_ref::<MessageEvent>()
        .and_then(|event| event.data().as_string())
        .and_then(|data| serde_json::from_str(&data).ok());
    if let Some(counts) = counts {
        inner.borrow_mut().replaced = counts;
    }
}

fn on_error(inner: &Rc<RefCell<Inner>>, _: web_sys::Event) {
    let gave_up = {
        let state = inner.borrow();
        state.state.set(StreamState::Retrying);
        state
            .source
            .as_ref()
            .is_some_and(|source| source.ready_state() == EventSource::CLOSED)
    };
    // Otherwise the browser reconnects by itself, sending Last-Event-ID.
    if gave_up {
        retry_later(inner);
    }
}

fn retry_later(inner: &Rc<RefCell<Inner>>) {
    let delay = {
        let mut state = inner.borrow_mut();
        if let Some(source) = state.source.take() {
            source.close();
        }
        let delay = state.retry_in;
        state.retry_in = (state.retry_in * 2).min(RETRY_MAX);
        state.state.set(StreamState::Retrying);
        delay
    };
    let weak = Rc::downgrade(inner);
    set_timeout(
        move || {
            if let Some(inner) = weak.upgrade() {
                connect(&inner);
            }
        },
        delay,
    );
}
