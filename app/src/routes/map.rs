//! 支え合いマップ: a district's map of households, people who need support, natural
//! helpers, gathering places, hazards and shelters; the lines of who looks in on whom; and
//! dated notes. Paper maps go stale once drawn: this one stays shared and editable.
//!
//! The map is plain DOM, no JS library: 256px Web Mercator tiles (proxied by our server at
//! `/tiles/{z}/{x}/{y}.png`, kept by the service worker) in a viewport that pans by pointer
//! drag, the places as buttons and the links as an SVG overlay. Everything except the tiles
//! comes from the local store, so the map works offline; a tile that cannot load is hidden
//! and the markers stay usable on a plain background.
//!
//! Layout: the tiles, lines and markers sit in a zero-size pane at the middle of the
//! viewport and are positioned in CSS pixels relative to the map centre. Absolute world
//! pixels would not do: at zoom 18 they exceed what browsers can lay out.

use crate::data;
use crate::state::{Ctx, Route, use_ctx};
use crate::ui::{ChooseOne, Header, TextField, field_error};
use leptos::ev::{KeyboardEvent, MouseEvent, PointerEvent, SubmitEvent};
use leptos::html;
use leptos::prelude::*;
use shared::api::DistrictInfo;
use shared::codes::{LinkKind, PlaceKind};
use shared::crdt;
use shared::i18n::{Msg, code_label};
use shared::model::{Link, MapNote, Place, SupportMap};
use shared::validate::FieldError;
use std::f64::consts::PI;
use wasm_bindgen::JsCast;

// ───────────────────────────── Web Mercator ─────────────────────────────

/// Edge of a tile in CSS pixels.
const TILE: f64 = 256.0;
/// Zooms the map offers: below 10 a district is a dot, above 18 there are no tiles.
const MIN_ZOOM: u8 = 10;
const MAX_ZOOM: u8 = 18;
/// Web Mercator stops here; beyond it the projection runs off to infinity.
const MAX_LAT: f64 = 85.051_128_78;
/// Where a map with no district centre and no places opens (central Japan).
const FALLBACK_VIEW: (f64, f64, u8) = (35.0, 135.0, 15);
/// A pointer that moves less than this (CSS px) is a tap, not a drag: fingers wobble.
const DRAG_SLOP: f64 = 8.0;
/// How far one arrow key press pans the map.
const KEY_PAN: f64 = 96.0;
/// The viewport size assumed until it has been measured, and the largest one tiled.
const DEFAULT_SIZE: (f64, f64) = (1024.0, 768.0);
const MAX_SIZE: f64 = 4096.0;

fn clamp_zoom(z: i32) -> u8 {
    z.clamp(i32::from(MIN_ZOOM), i32::from(MAX_ZOOM)) as u8
}

/// Width (and height) of the whole world in pixels at `zoom`.
fn world_size(zoom: u8) -> f64 {
    TILE * 2f64.powi(i32::from(zoom))
}

/// World pixel of a position at `zoom`: x east from 180°W, y south from 85°N.
fn project(lat: f64, lng: f64, zoom: u8) -> (f64, f64) {
    let size = world_size(zoom);
    let lat = lat.clamp(-MAX_LAT, MAX_LAT).to_radians();
    let x = (lng.clamp(-180.0, 180.0) + 180.0) / 360.0 * size;
    let y = (1.0 - (lat.tan() + 1.0 / lat.cos()).ln() / PI) / 2.0 * size;
    (x, y)
}

/// The position (lat, lng) of a world pixel at `zoom`; the inverse of [`project`].
fn unproject(x: f64, y: f64, zoom: u8) -> (f64, f64) {
    let size = world_size(zoom);
    let lng = x / size * 360.0 - 180.0;
    let lat = (PI * (1.0 - 2.0 * y / size)).sinh().atan().to_degrees();
    (lat.clamp(-MAX_LAT, MAX_LAT), lng.clamp(-180.0, 180.0))
}

/// One base tile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct TileKey {
    z: u8,
    x: u32,
    y: u32,
}

impl TileKey {
    /// Same origin, the form the server proxies and the service worker caches.
    fn url(self) -> String {
        format!("/tiles/{}/{}/{}.png", self.z, self.x, self.y)
    }
}

/// The tiles covering a `w`×`h` viewport centred on world pixel `c` at `zoom`.
fn tiles_around(c: (f64, f64), zoom: u8, (w, h): (f64, f64)) -> Vec<TileKey> {
    let last = world_size(zoom) / TILE - 1.0;
    let span = |mid: f64, len: f64| {
        let lo = ((mid - len / 2.0) / TILE).floor().clamp(0.0, last) as u32;
        let hi = ((mid + len / 2.0) / TILE).floor().clamp(0.0, last) as u32;
        lo..=hi
    };
    let xs = span(c.0, w.min(MAX_SIZE));
    span(c.1, h.min(MAX_SIZE))
        .flat_map(|y| xs.clone().map(move |x| TileKey { z: zoom, x, y }))
        .collect()
}

fn px(v: f64) -> String {
    format!("{v:.1}px")
}

// ───────────────────────────── reading the store ─────────────────────────────

fn read_map(doc: &str) -> Option<SupportMap> {
    data::read::<SupportMap>(doc).map(|m| m.0.clone())
}

/// The districts of the directory that have a support map.
fn map_districts() -> Vec<DistrictInfo> {
    data::directory(|d| {
        d.districts
            .iter()
            .filter(|x| x.map_doc.is_some())
            .cloned()
            .collect()
    })
    .unwrap_or_default()
}

fn district_of(doc: &str) -> Option<DistrictInfo> {
    map_districts()
        .into_iter()
        .find(|d| d.map_doc.as_deref() == Some(doc))
}

/// Places that are drawn (not removed), oldest first so newer markers sit on top.
fn visible_places(map: &Option<SupportMap>) -> Vec<(String, Place)> {
    map.iter()
        .flat_map(|m| m.places.iter())
        .filter(|(_, p)| !p.removed)
        .map(|(id, p)| (id.clone(), p.clone()))
        .collect()
}

/// A link as drawn: its kind and the positions (lat, lng) of its two ends.
#[derive(Debug, Clone, PartialEq)]
struct LinkLine {
    id: String,
    kind: LinkKind,
    a: (f64, f64),
    b: (f64, f64),
}

/// Links that are drawn: not removed, and both ends still on the map.
fn visible_links(map: &Option<SupportMap>) -> Vec<LinkLine> {
    let Some(m) = map else { return Vec::new() };
    let at = |id: &String| {
        m.places
            .get(id)
            .filter(|p| !p.removed)
            .map(|p| (p.lat, p.lng))
    };
    m.links
        .iter()
        .filter(|(_, l)| !l.removed)
        .filter_map(|(id, l)| {
            Some(LinkLine {
                id: id.clone(),
                kind: l.kind.clone(),
                a: at(&l.from)?,
                b: at(&l.to)?,
            })
        })
        .collect()
}

/// Where a map opens: the district's centre from the directory; else the middle of its
/// places; else central Japan.
fn home_view(doc: &str, map: &Option<SupportMap>) -> (f64, f64, u8) {
    if let Some((lat, lng, z)) = district_of(doc).and_then(|d| d.center) {
        return (lat, lng, clamp_zoom(i32::from(z)));
    }
    let places = visible_places(map);
    if places.is_empty() {
        return FALLBACK_VIEW;
    }
    let n = places.len() as f64;
    let lat = places.iter().map(|(_, p)| p.lat).sum::<f64>() / n;
    let lng = places.iter().map(|(_, p)| p.lng).sum::<f64>() / n;
    (lat, lng, FALLBACK_VIEW.2)
}

/// A short symbol per kind, so a marker reads at a glance, not by colour alone.
fn icon(kind: &PlaceKind) -> &'static str {
    match kind {
        PlaceKind::Household => "🏠",
        PlaceKind::NeedsSupport => "❤",
        PlaceKind::Helper => "🙋",
        PlaceKind::Gathering => "☕",
        PlaceKind::Shop => "🏪",
        PlaceKind::Salon => "🍵",
        PlaceKind::Hazard => "⚠",
        PlaceKind::Shelter => "🏫",
        PlaceKind::Misc | PlaceKind::Other(_) => "📍",
    }
}

/// The CSS class suffix of a code: an unknown code (a newer app's) looks like "other".
fn class_code(known: bool, code: &str) -> &str {
    if known { code } else { "other" }
}

fn place_class(kind: &PlaceKind) -> String {
    format!("kind-{}", class_code(kind.is_known(), kind.code()))
}

fn link_class(kind: &LinkKind) -> String {
    format!("link link-{}", class_code(kind.is_known(), kind.code()))
}

fn ymd(d: shared::Date) -> String {
    format!("{}/{}/{}", d.year(), d.month(), d.day())
}

// ───────────────────────────── screens ─────────────────────────────

/// `#/map`: the user's district maps (one opens directly); `#/map/{doc}`: that map.
#[component]
pub fn MapScreen(id: Option<String>) -> impl IntoView {
    match id {
        Some(doc) => view! { <MapView doc=doc top=false/> }.into_any(),
        None => view! { <MapList/> }.into_any(),
    }
}

#[component]
fn MapList() -> impl IntoView {
    let ctx = use_ctx();
    let maps = Memo::new(move |_| {
        ctx.rev.track();
        map_districts()
    });
    move || {
        let list = maps.get();
        if let [only] = list.as_slice()
            && let Some(doc) = only.map_doc.clone()
        {
            return view! { <MapView doc=doc top=true/> }.into_any();
        }
        view! {
            <h1 class="screen-title">{move || ctx.t(Msg::SupportMap)}</h1>
            {list.is_empty().then(|| view! { <p class="empty">{move || ctx.t(Msg::MapNone)}</p> })}
            <ul class="cards" data-testid="maps">
                {list.into_iter().filter_map(|d| {
                    let doc = d.map_doc?;
                    Some(view! {
                        <li>
                            <a class="card" href=Route::Map(Some(doc)).href() data-testid="map-card">
                                <span class="name">{d.name}</span>
                                <span class="sub">{d.level}</span>
                            </a>
                        </li>
                    })
                }).collect_view()}
            </ul>
        }
        .into_any()
    }
}

/// What the user is doing on the map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Browse,
    /// The next tap on the map places a new place.
    AddPlace,
    /// The next two taps on places join them with a line.
    AddLink,
}

/// The panel under the map (one at a time, so form field ids never clash).
#[derive(Debug, Clone, PartialEq)]
enum Sheet {
    None,
    NewPlace { lat: f64, lng: f64 },
    NewLink { from: String, to: String },
    Place(String),
}

/// The new place's fields: kept while the user taps the map again to move it, and after
/// a refused save, so nothing typed is lost.
#[derive(Clone, Copy)]
struct PlaceDraft {
    kind: RwSignal<String>,
    label: RwSignal<String>,
    note: RwSignal<String>,
    errors: RwSignal<Vec<FieldError>>,
}

impl PlaceDraft {
    fn new() -> Self {
        PlaceDraft {
            kind: RwSignal::new(PlaceKind::default().code().to_string()),
            label: RwSignal::new(String::new()),
            note: RwSignal::new(String::new()),
            errors: RwSignal::new(Vec::new()),
        }
    }

    /// After a save: the kind stays, since a district often maps several households in a row.
    fn clear(self) {
        self.label.set(String::new());
        self.note.set(String::new());
        self.errors.set(Vec::new());
    }
}

/// A gesture on the map: where it started, and whether it has become a drag.
#[derive(Debug, Clone, Copy)]
struct Drag {
    pointer: i32,
    start: (f64, f64),
    /// The centre's world pixel when the gesture started.
    from: (f64, f64),
    moved: bool,
}

/// The state of one map screen, shared by its parts (all handles, so `Copy`).
#[derive(Clone, Copy)]
struct Ui {
    ctx: Ctx,
    doc: StoredValue<String>,
    data: Memo<Option<SupportMap>>,
    places: Memo<Vec<(String, Place)>>,
    editable: Memo<bool>,
    /// The map centre (lat, lng) and zoom: tiles and markers derive from them.
    center: RwSignal<(f64, f64)>,
    zoom: RwSignal<u8>,
    /// The centre's world pixel at the current zoom.
    center_px: Memo<(f64, f64)>,
    mode: RwSignal<Mode>,
    link_from: RwSignal<Option<String>>,
    sheet: RwSignal<Sheet>,
    draft: PlaceDraft,
    viewport: NodeRef<html::Div>,
    /// Tiles on screen that failed to load (shown as a plain background).
    broken: RwSignal<u32>,
    /// The last gesture was a drag: the click that follows it is not a tap.
    dragged: StoredValue<bool>,
}

impl Ui {
    /// Screen offset (CSS px from the viewport's middle) of a position.
    fn offset(self, lat: f64, lng: f64) -> Memo<(f64, f64)> {
        let zoom = self.zoom;
        let world = Memo::new(move |_| project(lat, lng, zoom.get()));
        let c = self.center_px;
        Memo::new(move |_| {
            let (w, c) = (world.get(), c.get());
            (w.0 - c.0, w.1 - c.1)
        })
    }

    fn label_of(self, id: &str) -> String {
        self.places.with(|ps| {
            ps.iter()
                .find(|(pid, _)| pid == id)
                .map(|(_, p)| p.label.clone())
                .unwrap_or_default()
        })
    }

    fn recenter(self) {
        let (lat, lng, z) = self
            .data
            .with_untracked(|m| home_view(&self.doc.get_value(), m));
        self.center.set((lat, lng));
        self.zoom.set(z);
    }

    fn zoom_by(self, d: i32) {
        self.zoom.update(|z| *z = clamp_zoom(i32::from(*z) + d));
    }

    /// Moves the centre by a screen distance at the current zoom.
    fn pan_to_px(self, x: f64, y: f64) {
        self.center.set(unproject(x, y, self.zoom.get_untracked()));
    }

    /// Switches a mode on (or off, when it is on), closing what belonged to the other.
    fn toggle(self, m: Mode) {
        let next = if self.mode.get_untracked() == m {
            Mode::Browse
        } else {
            m
        };
        self.mode.set(next);
        self.link_from.set(None);
        let stale = self.sheet.with_untracked(|s| match s {
            Sheet::NewPlace { .. } => next != Mode::AddPlace,
            Sheet::NewLink { .. } => true,
            _ => false,
        });
        if stale {
            self.sheet.set(Sheet::None);
        }
    }

    /// A place was tapped: the first or second end of a new line, or its panel.
    fn tap_place(self, id: String) {
        if self.dragged.get_value() {
            return;
        }
        if self.mode.get_untracked() != Mode::AddLink {
            self.sheet.set(Sheet::Place(id));
            return;
        }
        match self.link_from.get_untracked() {
            None => self.link_from.set(Some(id)),
            // Tapping the first place again lets go of it.
            Some(from) if from == id => self.link_from.set(None),
            Some(from) => self.sheet.set(Sheet::NewLink { from, to: id }),
        }
    }

    /// The map itself was tapped at a screen point: in 場所を追加, that is where it goes.
    fn tap_map(self, client_x: f64, client_y: f64) {
        if self.mode.get_untracked() != Mode::AddPlace {
            return;
        }
        let Some(el) = self.viewport.get_untracked() else {
            return;
        };
        let r = el.get_bounding_client_rect();
        let c = self.center_px.get_untracked();
        let x = c.0 + client_x - r.left() - r.width() / 2.0;
        let y = c.1 + client_y - r.top() - r.height() / 2.0;
        let (lat, lng) = unproject(x, y, self.zoom.get_untracked());
        self.sheet.set(Sheet::NewPlace { lat, lng });
    }
}

/// Whether an event happened on a control inside the map (a marker), not the map itself.
fn on_control(ev: &web_sys::Event) -> bool {
    ev.target()
        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        .and_then(|e| e.closest("button, a, input, textarea").ok().flatten())
        .is_some()
}

/// Brings a panel that opened under the map into sight, leaving part of the map visible.
fn reveal(el: &web_sys::Element) {
    let Some(w) = web_sys::window() else { return };
    let h = w
        .inner_height()
        .ok()
        .and_then(|v| v.as_f64())
        .unwrap_or(0.0);
    let top = el.get_bounding_client_rect().top();
    if h > 0.0 && top > h * 0.6 {
        w.scroll_by_with_x_and_y(0.0, top - h * 0.4);
    }
}

/// Scrolls a sheet into sight once it is in the page.
fn reveal_on_mount(node: NodeRef<html::Section>) {
    Effect::new(move |_| {
        if let Some(el) = node.get() {
            reveal(&el);
        }
    });
}

/// One district's map.
#[component]
fn MapView(doc: String, top: bool) -> impl IntoView {
    let ctx = use_ctx();
    let doc = StoredValue::new(doc);
    let data = Memo::new(move |_| {
        ctx.rev.track();
        doc.with_value(|d| read_map(d))
    });
    let places = Memo::new(move |_| data.with(visible_places));
    let lines = Memo::new(move |_| data.with(visible_links));
    // A map not yet on this device cannot take changes: they would start a second map.
    let editable = Memo::new(move |_| {
        ctx.rev.track();
        data.with(Option::is_some) && doc.with_value(|d| data::can_edit(d))
    });
    let (lat, lng, z) = data.with_untracked(|m| doc.with_value(|d| home_view(d, m)));
    let center = RwSignal::new((lat, lng));
    let zoom = RwSignal::new(z);
    let center_px = Memo::new(move |_| {
        let (lat, lng) = center.get();
        project(lat, lng, zoom.get())
    });
    let ui = Ui {
        ctx,
        doc,
        data,
        places,
        editable,
        center,
        zoom,
        center_px,
        mode: RwSignal::new(Mode::Browse),
        link_from: RwSignal::new(None),
        sheet: RwSignal::new(Sheet::None),
        draft: PlaceDraft::new(),
        viewport: NodeRef::new(),
        broken: RwSignal::new(0),
        dragged: StoredValue::new(false),
    };

    let title = Signal::derive(move || {
        let own = data.with(|m| m.as_ref().map(|m| m.title.trim().to_string()));
        match own.filter(|t| !t.is_empty()) {
            Some(t) => t,
            None => match doc.with_value(|d| district_of(d)) {
                Some(d) => ctx.tf(Msg::MapTitleOf, &[("name", &d.name)]),
                None => ctx.t(Msg::SupportMap).to_string(),
            },
        }
    });
    let heading = if top {
        view! { <h1 class="screen-title">{move || title.get()}</h1> }.into_any()
    } else {
        view! { <Header title=title/> }.into_any()
    };

    view! {
        {heading}
        <Show when=move || data.with(Option::is_none)>
            <p class="empty">{move || ctx.t(Msg::NotOnDevice)}</p>
        </Show>
        <Show when=move || data.with(Option::is_some) && !editable.get()>
            <p class="sub" data-testid="map-readonly">{move || ctx.t(Msg::MapReadOnly)}</p>
        </Show>
        <Show when=move || editable.get()>
            {tools(ui)}
        </Show>
        <div class="map-wrap">
            {viewport(ui, lines)}
            {controls(ui)}
            {hint(ui)}
        </div>
        <p class="map-source">{move || ctx.t(Msg::MapSource)}</p>
        <Show when=move || { ui.broken.get() > 0 }>
            <p class="sub" role="status" data-testid="map-no-tiles">{move || ctx.t(Msg::MapNoTiles)}</p>
        </Show>
        {move || match ui.sheet.get() {
            Sheet::None => None,
            Sheet::NewPlace { lat, lng } => Some(place_form(ui, lat, lng).into_any()),
            Sheet::NewLink { from, to } => Some(link_form(ui, from, to).into_any()),
            Sheet::Place(id) => Some(place_panel(ui, id).into_any()),
        }}
        {legend(ctx)}
    }
}

/// 場所を追加 / 線でつなぐ: toggles, pressed while active.
fn tools(ui: Ui) -> impl IntoView {
    let ctx = ui.ctx;
    let pressed = move |m: Mode| move || (ui.mode.get() == m).to_string();
    view! {
        <div class="map-tools" role="group">
            <button type="button" class="big secondary" data-testid="add-place"
                aria-pressed=pressed(Mode::AddPlace) on:click=move |_| ui.toggle(Mode::AddPlace)>
                {move || ctx.t(Msg::MapAddPlace)}
            </button>
            <button type="button" class="big secondary" data-testid="add-link"
                aria-pressed=pressed(Mode::AddLink) on:click=move |_| ui.toggle(Mode::AddLink)>
                {move || ctx.t(Msg::MapAddLink)}
            </button>
        </div>
    }
}

/// What to do next, while adding: over the map's corner, where the eyes are (and read
/// out by screen readers).
fn hint(ui: Ui) -> impl IntoView {
    let ctx = ui.ctx;
    let text = move || match ui.mode.get() {
        Mode::Browse => String::new(),
        Mode::AddPlace => ctx.t(Msg::MapTapToAdd).to_string(),
        Mode::AddLink => match ui.link_from.get() {
            None => ctx.t(Msg::MapPickFirst).to_string(),
            Some(f) => ctx.tf(Msg::MapPickSecond, &[("from", &ui.label_of(&f))]),
        },
    };
    view! {
        <p class="map-hint" role="status" aria-live="polite" data-testid="map-hint"
            class:active=move || ui.mode.get() != Mode::Browse>
            {text}
        </p>
    }
}

/// The slippy map: tiles, lines and markers; pans by drag, or by the arrow keys.
fn viewport(ui: Ui, lines: Memo<Vec<LinkLine>>) -> impl IntoView {
    let ctx = ui.ctx;
    let size = RwSignal::new(DEFAULT_SIZE);
    let measure = move || {
        if let Some(el) = ui.viewport.get_untracked() {
            let (w, h) = (f64::from(el.client_width()), f64::from(el.client_height()));
            if w > 0.0 && h > 0.0 {
                size.set((w, h));
            }
        }
    };
    Effect::new(move |_| {
        if ui.viewport.get().is_some() {
            measure();
        }
    });
    let resize = window_event_listener(leptos::ev::resize, move |_| measure());
    on_cleanup(move || resize.remove());
    let tiles = Memo::new(move |_| tiles_around(ui.center_px.get(), ui.zoom.get(), size.get()));

    let drag = StoredValue::new(None::<Drag>);
    let down = move |ev: PointerEvent| {
        if !ev.is_primary() || ev.button() != 0 {
            return;
        }
        ui.dragged.set_value(false);
        drag.set_value(Some(Drag {
            pointer: ev.pointer_id(),
            start: (f64::from(ev.client_x()), f64::from(ev.client_y())),
            from: ui.center_px.get_untracked(),
            moved: false,
        }));
    };
    let moved = move |ev: PointerEvent| {
        let Some(mut d) = drag.get_value().filter(|d| d.pointer == ev.pointer_id()) else {
            return;
        };
        // The button went up outside the map: that gesture is over.
        if ev.buttons() == 0 {
            drag.set_value(None);
            return;
        }
        let dx = f64::from(ev.client_x()) - d.start.0;
        let dy = f64::from(ev.client_y()) - d.start.1;
        if !d.moved {
            if dx.hypot(dy) < DRAG_SLOP {
                return;
            }
            // Captured only once it is a drag, so a tap on a marker stays its click.
            d.moved = true;
            drag.set_value(Some(d));
            ui.dragged.set_value(true);
            if let Some(el) = ui.viewport.get_untracked() {
                let _ = el.set_pointer_capture(d.pointer);
            }
        }
        ui.pan_to_px(d.from.0 - dx, d.from.1 - dy);
    };
    let up = move |ev: PointerEvent| {
        let Some(d) = drag.get_value().filter(|d| d.pointer == ev.pointer_id()) else {
            return;
        };
        drag.set_value(None);
        if !d.moved && !on_control(&ev) {
            ui.tap_map(f64::from(ev.client_x()), f64::from(ev.client_y()));
        }
    };
    let keys = move |ev: KeyboardEvent| {
        let (cx, cy) = ui.center_px.get_untracked();
        match ev.key().as_str() {
            "ArrowLeft" => ui.pan_to_px(cx - KEY_PAN, cy),
            "ArrowRight" => ui.pan_to_px(cx + KEY_PAN, cy),
            "ArrowUp" => ui.pan_to_px(cx, cy - KEY_PAN),
            "ArrowDown" => ui.pan_to_px(cx, cy + KEY_PAN),
            "+" | "=" => ui.zoom_by(1),
            "-" => ui.zoom_by(-1),
            // Without a pointer, 場所を追加 puts the place at the centre.
            "Enter" if !on_control(&ev) && ui.mode.get_untracked() == Mode::AddPlace => {
                let (lat, lng) = ui.center.get_untracked();
                ui.sheet.set(Sheet::NewPlace { lat, lng });
            }
            _ => return,
        }
        ev.prevent_default();
    };

    view! {
        <div class="map-viewport" data-testid="map" node_ref=ui.viewport tabindex="0" role="group"
            class:adding=move || ui.mode.get() == Mode::AddPlace
            aria-label=move || ctx.t(Msg::MapArea)
            data-zoom=move || ui.zoom.get().to_string()
            on:pointerdown=down
            on:pointermove=moved
            on:pointerup=up
            on:pointercancel=move |_| drag.set_value(None)
            // The click after a drag reaches here (it bubbles from a marker, too): the
            // next click is a tap again.
            on:click=move |_: MouseEvent| ui.dragged.set_value(false)
            on:keydown=keys>
            <div class="map-pane">
                <div class="map-tiles" aria-hidden="true">
                    <For each=move || tiles.get() key=|t| *t children=move |t| tile(ui, t)/>
                </div>
                <svg class="map-links" width="1" height="1" aria-hidden="true">
                    <For each=move || lines.get() key=line_key children=move |l| link_line(ui, l)/>
                </svg>
                {move || match ui.sheet.get() {
                    Sheet::NewPlace { lat, lng } => Some(draft_pin(ui, lat, lng)),
                    _ => None,
                }}
                <For each=move || ui.places.get() key=marker_key children=move |(id, p)| marker(ui, id, p)/>
            </div>
        </div>
    }
}

fn tile(ui: Ui, t: TileKey) -> impl IntoView {
    let failed = RwSignal::new(false);
    let c = ui.center_px;
    let left = move || px(f64::from(t.x) * TILE - c.get().0);
    let top = move || px(f64::from(t.y) * TILE - c.get().1);
    on_cleanup(move || {
        if failed.try_get_untracked().unwrap_or(false) {
            ui.broken.update(|n| *n = n.saturating_sub(1));
        }
    });
    view! {
        <img class="map-tile" src=t.url() alt="" width="256" height="256" draggable="false"
            class:failed=move || failed.get()
            style:left=left style:top=top
            on:error=move |_| {
                // No signal and not cached: hide it; the background and markers remain.
                if !failed.get_untracked() {
                    failed.set(true);
                    ui.broken.update(|n| *n += 1);
                }
            }/>
    }
}

fn line_key(l: &LinkLine) -> String {
    format!("{}|{}|{:?}|{:?}", l.id, l.kind.code(), l.a, l.b)
}

fn link_line(ui: Ui, l: LinkLine) -> impl IntoView {
    let a = ui.offset(l.a.0, l.a.1);
    let b = ui.offset(l.b.0, l.b.1);
    let code = l.kind.code().to_string();
    view! {
        <line class=link_class(&l.kind) data-testid="link" data-kind=code data-id=l.id
            x1=move || format!("{:.1}", a.get().0) y1=move || format!("{:.1}", a.get().1)
            x2=move || format!("{:.1}", b.get().0) y2=move || format!("{:.1}", b.get().1)/>
    }
}

fn marker_key((id, p): &(String, Place)) -> String {
    format!("{id}|{}|{}|{}|{}", p.kind.code(), p.label, p.lat, p.lng)
}

fn marker(ui: Ui, id: String, p: Place) -> impl IntoView {
    let ctx = ui.ctx;
    let pos = ui.offset(p.lat, p.lng);
    let (kind, label) = (p.kind.clone(), p.label.clone());
    let data_label = p.label.clone();
    let aria = move || {
        ctx.tf(
            Msg::MapPlaceAria,
            &[("label", &label), ("kind", kind.label(ctx.lang.get()))],
        )
    };
    let chosen = {
        let id = id.clone();
        move || {
            ui.link_from.with(|f| f.as_ref() == Some(&id))
                || ui.sheet.with(|s| matches!(s, Sheet::Place(x) if *x == id))
        }
    };
    let tap = {
        let id = id.clone();
        move |_: MouseEvent| ui.tap_place(id.clone())
    };
    view! {
        <button type="button" class=format!("marker {}", place_class(&p.kind))
            class:selected=chosen
            data-testid="place" data-label=data_label data-id=id
            aria-label=aria
            style:left=move || px(pos.get().0) style:top=move || px(pos.get().1)
            on:click=tap>
            <span class="marker-icon" aria-hidden="true">{icon(&p.kind)}</span>
            <span class="marker-label" aria-hidden="true">{p.label}</span>
        </button>
    }
}

/// Where the new place will go, until it is saved.
fn draft_pin(ui: Ui, lat: f64, lng: f64) -> impl IntoView {
    let pos = ui.offset(lat, lng);
    view! {
        <span class="marker draft" aria-hidden="true" data-testid="draft-place"
            style:left=move || px(pos.get().0) style:top=move || px(pos.get().1)>
            <span class="marker-icon">"📍"</span>
        </span>
    }
}

/// Large zoom buttons and 中心に戻る, over the map's corner.
fn controls(ui: Ui) -> impl IntoView {
    let ctx = ui.ctx;
    view! {
        <div class="map-controls">
            <button type="button" class="map-zoom" data-testid="zoom-in"
                aria-label=move || ctx.t(Msg::MapZoomIn)
                disabled=move || { ui.zoom.get() >= MAX_ZOOM }
                on:click=move |_| ui.zoom_by(1)>"＋"</button>
            <button type="button" class="map-zoom" data-testid="zoom-out"
                aria-label=move || ctx.t(Msg::MapZoomOut)
                disabled=move || { ui.zoom.get() <= MIN_ZOOM }
                on:click=move |_| ui.zoom_by(-1)>"−"</button>
            <button type="button" class="map-home secondary" data-testid="recenter"
                on:click=move |_| ui.recenter()>
                {move || ctx.t(Msg::MapRecenter)}
            </button>
        </div>
    }
}

/// A panel's heading with a close button.
fn sheet_head(ui: Ui, title: impl IntoView + 'static) -> impl IntoView {
    let ctx = ui.ctx;
    view! {
        <div class="sheet-head">
            <h2>{title}</h2>
            <button type="button" class="secondary" data-testid="close-sheet"
                on:click=move |_| ui.sheet.set(Sheet::None)>
                {move || ctx.t(Msg::MapClose)}
            </button>
        </div>
    }
}

/// The new place form, at the tapped position.
fn place_form(ui: Ui, lat: f64, lng: f64) -> impl IntoView {
    let ctx = ui.ctx;
    let d = ui.draft;
    let busy = RwSignal::new(false);
    let node = NodeRef::<html::Section>::new();
    reveal_on_mount(node);
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() || !ui.editable.get_untracked() {
            return;
        }
        let place = Place {
            kind: PlaceKind::from_code(&d.kind.get_untracked()),
            lat,
            lng,
            label: d.label.get_untracked().trim().to_string(),
            person: None,
            note: d.note.get_untracked(),
            created_by: data::my_id(),
            created_at: data::now_ms() as i64,
            removed: false,
        };
        if let Err(e) = place.validate() {
            d.errors.set(e);
            ctx.notify(Msg::FixErrors, false);
            return;
        }
        d.errors.set(Vec::new());
        busy.set(true);
        let doc = ui.doc.get_value();
        leptos::task::spawn_local(async move {
            let pid = data::new_id();
            let created = vec!["places".to_string(), pid.clone()];
            if data::save_here(ctx, &doc, Some(created), move |tx| {
                crdt::save_at(tx, &["places", &pid], &place)
            })
            .await
            .is_ok()
            {
                d.clear();
                ui.mode.set(Mode::Browse);
                ui.sheet.set(Sheet::None);
            } else {
                busy.set(false);
            }
        });
    };
    view! {
        <section class="map-sheet" data-testid="place-form" node_ref=node>
            {sheet_head(ui, move || ctx.t(Msg::MapNewPlace))}
            <form class="form" autocomplete="off" on:submit=submit novalidate>
                <ChooseOne kind=PlaceKind::KIND codes=PlaceKind::ALL.iter().map(|k| k.code()).collect()
                    selected=d.kind label=Msg::MapPlaceKind testid="place-kind"/>
                <TextField label=Msg::MapPlaceLabel value=d.label field="label" errors=d.errors/>
                <TextField label=Msg::Note value=d.note field="note" errors=d.errors multiline=true/>
                {field_error(ctx, d.errors, "position")}
                <div class="actions">
                    <button type="submit" class="big" data-testid="save-place" disabled=move || busy.get()>
                        {move || ctx.t(Msg::Save)}
                    </button>
                    <button type="button" class="big secondary" on:click=move |_| {
                        d.clear();
                        ui.mode.set(Mode::Browse);
                        ui.sheet.set(Sheet::None);
                    }>
                        {move || ctx.t(Msg::Cancel)}
                    </button>
                </div>
            </form>
        </section>
    }
}

/// The new link form, once two places are chosen.
fn link_form(ui: Ui, from: String, to: String) -> impl IntoView {
    let ctx = ui.ctx;
    let kind = RwSignal::new(LinkKind::default().code().to_string());
    let note = RwSignal::new(String::new());
    let errors = RwSignal::new(Vec::<FieldError>::new());
    let busy = RwSignal::new(false);
    let node = NodeRef::<html::Section>::new();
    reveal_on_mount(node);
    let between = {
        let (from, to) = (from.clone(), to.clone());
        move || format!("{} → {}", ui.label_of(&from), ui.label_of(&to))
    };
    let close = move || {
        ui.link_from.set(None);
        ui.sheet.set(Sheet::None);
    };
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() || !ui.editable.get_untracked() {
            return;
        }
        let link = Link {
            from: from.clone(),
            to: to.clone(),
            kind: LinkKind::from_code(&kind.get_untracked()),
            note: note.get_untracked(),
            created_by: data::my_id(),
            created_at: data::now_ms() as i64,
            removed: false,
        };
        let checked = ui.data.with_untracked(|m| match m {
            Some(m) => link.validate(m),
            None => Err(vec![FieldError::new("from", Msg::UnknownPlace)]),
        });
        if let Err(e) = checked {
            errors.set(e);
            ctx.notify(Msg::FixErrors, false);
            return;
        }
        errors.set(Vec::new());
        busy.set(true);
        let doc = ui.doc.get_value();
        leptos::task::spawn_local(async move {
            let lid = data::new_id();
            let created = vec!["links".to_string(), lid.clone()];
            if data::save_here(ctx, &doc, Some(created), move |tx| {
                crdt::save_at(tx, &["links", &lid], &link)
            })
            .await
            .is_ok()
            {
                ui.mode.set(Mode::Browse);
                close();
            } else {
                busy.set(false);
            }
        });
    };
    view! {
        <section class="map-sheet" data-testid="link-form" node_ref=node>
            {sheet_head(ui, move || ctx.t(Msg::MapNewLink))}
            <p class="link-ends">{between}</p>
            {field_error(ctx, errors, "from")}
            {field_error(ctx, errors, "to")}
            <form class="form" autocomplete="off" on:submit=submit novalidate>
                <ChooseOne kind=LinkKind::KIND codes=LinkKind::ALL.iter().map(|k| k.code()).collect()
                    selected=kind label=Msg::MapLinkKind testid="link-kind"/>
                <TextField label=Msg::Note value=note field="note" errors=errors multiline=true/>
                <div class="actions">
                    <button type="submit" class="big" data-testid="save-link" disabled=move || busy.get()>
                        {move || ctx.t(Msg::Save)}
                    </button>
                    <button type="button" class="big secondary" on:click=move |_| {
                        ui.mode.set(Mode::Browse);
                        close();
                    }>
                        {move || ctx.t(Msg::Cancel)}
                    </button>
                </div>
            </form>
        </section>
    }
}

/// The links touching place `id`, as lines of text ("A → B（見守り）") with their notes.
fn links_of(ui: Ui, id: &str) -> Vec<(String, String)> {
    let lang = ui.ctx.lang.get();
    ui.data.with(|m| {
        let Some(m) = m else { return Vec::new() };
        let label = |pid: &String| {
            m.places
                .get(pid)
                .filter(|p| !p.removed)
                .map(|p| p.label.clone())
        };
        m.links
            .values()
            .filter(|l| !l.removed && (l.from == id || l.to == id))
            .filter_map(|l| {
                let text = ui.ctx.tf(
                    Msg::MapLinkLine,
                    &[
                        ("from", &label(&l.from)?),
                        ("to", &label(&l.to)?),
                        ("kind", l.kind.label(lang)),
                    ],
                );
                Some((text, l.note.clone()))
            })
            .collect()
    })
}

/// The dated notes on place `id`, newest first.
fn notes_of(ui: Ui, id: &str) -> Vec<MapNote> {
    let mut notes: Vec<MapNote> = ui.data.with(|m| {
        m.iter()
            .flat_map(|m| m.notes.values())
            .filter(|n| !n.removed && n.place.as_deref() == Some(id))
            .cloned()
            .collect()
    });
    notes.sort_by_key(|n| std::cmp::Reverse((n.date, n.created_at)));
    notes
}

/// A place's panel: what it is, its links, its dated notes, and a note form.
fn place_panel(ui: Ui, id: String) -> impl IntoView {
    let ctx = ui.ctx;
    let node = NodeRef::<html::Section>::new();
    reveal_on_mount(node);
    let place = {
        let id = id.clone();
        Memo::new(move |_| {
            ui.places
                .with(|ps| ps.iter().find(|(p, _)| *p == id).map(|(_, p)| p.clone()))
        })
    };
    let about = move || {
        place.get().map(|p| {
            let lang = ctx.lang.get();
            view! {
                <p class="sub">
                    <span class=format!("legend-icon {}", place_class(&p.kind)) aria-hidden="true">{icon(&p.kind)}</span>
                    " " {p.kind.label(lang).to_string()}
                </p>
                {(!p.note.trim().is_empty()).then(|| view! { <p class="map-note-text">{p.note.clone()}</p> })}
            }
        })
    };
    let links = {
        let id = id.clone();
        move || {
            let list = links_of(ui, &id);
            if list.is_empty() {
                return view! { <p class="empty">{ctx.t(Msg::MapNoLinks)}</p> }.into_any();
            }
            view! {
                <ul class="history" data-testid="place-links">
                    {list.into_iter().map(|(text, note)| view! {
                        <li>{text} {(!note.trim().is_empty()).then(|| view! { <span class="sub">{note}</span> })}</li>
                    }).collect_view()}
                </ul>
            }
            .into_any()
        }
    };
    let notes = {
        let id = id.clone();
        move || {
            let list = notes_of(ui, &id);
            if list.is_empty() {
                return view! { <p class="empty">{ctx.t(Msg::MapNoNotes)}</p> }.into_any();
            }
            view! {
                <ul class="history" data-testid="place-notes">
                    {list.into_iter().map(|n| view! {
                        <li data-testid="place-note">
                            <span class="date">{ymd(n.date)}</span> " "
                            <span class="map-note-text">{n.text}</span>
                        </li>
                    }).collect_view()}
                </ul>
            }
            .into_any()
        }
    };
    let title = move || place.with(|p| p.as_ref().map(|p| p.label.clone()).unwrap_or_default());
    view! {
        <section class="map-sheet" data-testid="place-panel" node_ref=node>
            {sheet_head(ui, title)}
            {about}
            <h3>{move || ctx.t(Msg::MapLinks)}</h3>
            {links}
            <h3>{move || ctx.t(Msg::MapNotes)}</h3>
            <Show when=move || ui.editable.get()>
                {note_form(ui, id.clone())}
            </Show>
            {notes}
        </section>
    }
}

/// 記録を書く: a dated note on one place, dated today.
fn note_form(ui: Ui, place: String) -> impl IntoView {
    let ctx = ui.ctx;
    let text = RwSignal::new(String::new());
    let errors = RwSignal::new(Vec::<FieldError>::new());
    let busy = RwSignal::new(false);
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() || !ui.editable.get_untracked() {
            return;
        }
        let today = data::today();
        let note = MapNote {
            place: Some(place.clone()),
            date: today,
            text: text.get_untracked(),
            author: data::my_id(),
            created_at: data::now_ms() as i64,
            removed: false,
        };
        if let Err(e) = note.validate(today) {
            errors.set(e);
            ctx.notify(Msg::FixErrors, false);
            return;
        }
        errors.set(Vec::new());
        busy.set(true);
        let doc = ui.doc.get_value();
        leptos::task::spawn_local(async move {
            let nid = data::new_id();
            let created = vec!["notes".to_string(), nid.clone()];
            if data::save_here(ctx, &doc, Some(created), move |tx| {
                crdt::save_at(tx, &["notes", &nid], &note)
            })
            .await
            .is_ok()
            {
                text.set(String::new());
            }
            busy.set(false);
        });
    };
    view! {
        <form class="form" autocomplete="off" on:submit=submit novalidate data-testid="note-form">
            <TextField label=Msg::MapNoteText value=text field="text" errors=errors multiline=true/>
            <button type="submit" class="big" data-testid="save-note" disabled=move || busy.get()>
                {move || ctx.t(Msg::MapAddNote)}
            </button>
        </form>
    }
}

/// 凡例: every kind of place and of line, as drawn on the map.
fn legend(ctx: Ctx) -> impl IntoView {
    view! {
        <section class="map-legend" data-testid="legend">
            <h2>{move || ctx.t(Msg::MapLegend)}</h2>
            <h3>{move || ctx.t(Msg::MapLegendPlaces)}</h3>
            <ul class="legend-places">
                {PlaceKind::ALL.iter().map(|k| {
                    let code = k.code();
                    view! {
                        <li>
                            <span class=format!("legend-icon {}", place_class(k)) aria-hidden="true">{icon(k)}</span>
                            {move || code_label(PlaceKind::KIND, code, ctx.lang.get()).unwrap_or(code)}
                        </li>
                    }
                }).collect_view()}
            </ul>
            <h3>{move || ctx.t(Msg::MapLegendLinks)}</h3>
            <ul class="legend-links">
                {LinkKind::ALL.iter().map(|k| {
                    let code = k.code();
                    view! {
                        <li>
                            <svg class="legend-line" width="56" height="16" aria-hidden="true">
                                <line class=link_class(k) x1="4" y1="8" x2="52" y2="8"/>
                            </svg>
                            {move || code_label(LinkKind::KIND, code, ctx.lang.get()).unwrap_or(code)}
                        </li>
                    }
                }).collect_view()}
            </ul>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projection_round_trips() {
        for (lat, lng) in [(35.0, 135.0), (43.06, 141.35), (26.2, 127.68)] {
            for z in [MIN_ZOOM, 15, MAX_ZOOM] {
                let (x, y) = project(lat, lng, z);
                let (lat2, lng2) = unproject(x, y, z);
                assert!((lat - lat2).abs() < 1e-9 && (lng - lng2).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn tiles_cover_the_viewport() {
        let c = project(35.0, 135.0, 15);
        let t = tiles_around(c, 15, (512.0, 256.0));
        // 512 px wide spans 2 or 3 tiles, 256 px tall 1 or 2.
        assert!((2..=6).contains(&t.len()));
        assert!(t.iter().all(|k| k.z == 15));
        assert_eq!(t[0].url(), format!("/tiles/15/{}/{}.png", t[0].x, t[0].y));
    }
}
