//! What the whole app shares through context: the route, the language and text size, the
//! sync indicator's state, a revision counter that moves whenever stored data changes,
//! and the notice after a save ("保存しました", with 取り消す).

use leptos::prelude::*;
use shared::i18n::{Lang, Msg, fill};

/// The screens, addressed by the URL hash (`#/person/ID`) so that reload and the back
/// button keep the place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Home,
    Person(String),
    Visit(String),
    /// Correcting visit record `.1` of person `.0`.
    EditVisit(String, String),
    /// Correcting consultation record `.1` of person `.0`.
    EditConsult(String, String),
    Consult(String),
    Consent(String),
    Salons,
    Salon(String),
    Session(String, String),
    Member(String),
    Map(Option<String>),
    Settings,
    Roster,
    Disaster,
    Audit,
    UserDevices,
    Desk(String),
}

impl Route {
    pub fn parse(hash: &str) -> Route {
        let path = hash.trim_start_matches('#').trim_start_matches('/');
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let s = |i: usize| parts.get(i).map(|p| p.to_string());
        match parts.as_slice() {
            ["person", _] => Route::Person(s(1).unwrap_or_default()),
            ["person", _, "visit"] => Route::Visit(s(1).unwrap_or_default()),
            ["person", _, "visit", _] => {
                Route::EditVisit(s(1).unwrap_or_default(), s(3).unwrap_or_default())
            }
            ["person", _, "consult"] => Route::Consult(s(1).unwrap_or_default()),
            ["person", _, "consult", _] => {
                Route::EditConsult(s(1).unwrap_or_default(), s(3).unwrap_or_default())
            }
            ["person", _, "consent"] => Route::Consent(s(1).unwrap_or_default()),
            ["salons"] => Route::Salons,
            ["salon", _] => Route::Salon(s(1).unwrap_or_default()),
            ["salon", _, "member"] => Route::Member(s(1).unwrap_or_default()),
            ["salon", _, "session", _] => {
                Route::Session(s(1).unwrap_or_default(), s(3).unwrap_or_default())
            }
            ["map"] => Route::Map(None),
            ["map", _] => Route::Map(s(1)),
            ["settings"] => Route::Settings,
            ["roster"] => Route::Roster,
            ["disaster"] => Route::Disaster,
            ["audit"] => Route::Audit,
            ["devices"] => Route::UserDevices,
            ["desk"] => Route::Desk("overdue".into()),
            ["desk", _] => Route::Desk(s(1).unwrap_or_default()),
            _ => Route::Home,
        }
    }

    pub fn href(&self) -> String {
        match self {
            Route::Home => "#/".into(),
            Route::Person(id) => format!("#/person/{id}"),
            Route::Visit(id) => format!("#/person/{id}/visit"),
            Route::EditVisit(id, v) => format!("#/person/{id}/visit/{v}"),
            Route::Consult(id) => format!("#/person/{id}/consult"),
            Route::EditConsult(id, c) => format!("#/person/{id}/consult/{c}"),
            Route::Consent(id) => format!("#/person/{id}/consent"),
            Route::Salons => "#/salons".into(),
            Route::Salon(id) => format!("#/salon/{id}"),
            Route::Member(id) => format!("#/salon/{id}/member"),
            Route::Session(id, d) => format!("#/salon/{id}/session/{d}"),
            Route::Map(None) => "#/map".into(),
            Route::Map(Some(id)) => format!("#/map/{id}"),
            Route::Settings => "#/settings".into(),
            Route::Roster => "#/roster".into(),
            Route::Disaster => "#/disaster".into(),
            Route::Audit => "#/audit".into(),
            Route::UserDevices => "#/devices".into(),
            Route::Desk(tab) => format!("#/desk/{tab}"),
        }
    }
}

/// Goes to `r` (a new history entry, so the phone's back button returns).
pub fn go(r: &Route) {
    if let Some(w) = web_sys::window() {
        let _ = w.location().set_hash(&r.href());
    }
}

/// Back one screen (or home when there is no history in the app).
pub fn back() {
    if let Some(w) = web_sys::window() {
        if w.history().map(|h| h.length().unwrap_or(0)).unwrap_or(0) > 1 {
            let _ = w.history().and_then(|h| h.back());
        } else {
            go(&Route::Home);
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncState {
    pub online: bool,
    pub syncing: bool,
    /// Changes on this device not yet on the server (未送信).
    pub pending: usize,
    /// Of those, changes the server refused (no permission, or a record it refused).
    pub refused: usize,
    pub last_sync: Option<f64>,
    pub error: Option<String>,
    /// The server no longer accepts this device's token.
    pub session_ended: bool,
}

/// Text size steps (the root font size): 標準, 大きめ, 特大.
pub const TEXT_SIZES: [(u32, Msg); 3] = [
    (125, Msg::SizeNormal),
    (150, Msg::SizeLarge),
    (180, Msg::SizeHuge),
];

#[derive(Clone, Copy)]
pub struct Ctx {
    pub route: RwSignal<Route>,
    pub lang: RwSignal<Lang>,
    pub text_size: RwSignal<u32>,
    pub sync: RwSignal<SyncState>,
    /// Moves whenever stored data changed (a save, or a sync that brought something).
    pub rev: RwSignal<u64>,
    /// Whether the store has opened, and whether someone is signed in.
    pub ready: RwSignal<bool>,
    pub signed_in: RwSignal<bool>,
    /// The notice after a save (保存しました) or a failure, on the screen it belongs to.
    pub notice: RwSignal<Option<Notice>>,
    /// Storage may be evicted by the browser (persist() refused).
    pub storage_at_risk: RwSignal<bool>,
    /// A new version of the app has taken over; a reload shows it.
    pub update_ready: RwSignal<bool>,
    /// Another tab holds the app.
    pub other_tab: RwSignal<bool>,
    /// Data is on the phone but the data key is not in memory: the PIN screen.
    pub locked: RwSignal<bool>,
    /// Signed in, PIN not chosen yet: the PIN screen for a first log-in.
    pub pin_setup: RwSignal<Option<shared::api::LoginResponse>>,
    /// Why the device's data was deleted (shown once on the log-in screen).
    pub wiped: RwSignal<Option<Msg>>,
}

impl Ctx {
    pub fn new() -> Ctx {
        let lang = Lang::from_code(&pref("lang").unwrap_or_else(|| "ja".into()));
        let size = pref("text_size")
            .and_then(|s| s.parse().ok())
            .filter(|s| TEXT_SIZES.iter().any(|(v, _)| v == s))
            .unwrap_or(TEXT_SIZES[0].0);
        Ctx {
            route: RwSignal::new(Route::parse(&current_hash())),
            lang: RwSignal::new(lang),
            text_size: RwSignal::new(size),
            sync: RwSignal::new(SyncState {
                online: web_sys::window().is_none_or(|w| w.navigator().on_line()),
                ..SyncState::default()
            }),
            rev: RwSignal::new(0),
            ready: RwSignal::new(false),
            signed_in: RwSignal::new(false),
            notice: RwSignal::new(None),
            storage_at_risk: RwSignal::new(false),
            update_ready: RwSignal::new(false),
            other_tab: RwSignal::new(false),
            locked: RwSignal::new(false),
            pin_setup: RwSignal::new(None),
            wiped: RwSignal::new(None),
        }
    }

    pub fn bump(&self) {
        self.rev.update(|r| *r += 1);
    }

    /// A message in the current language (reactive when called inside a view closure).
    pub fn t(&self, m: Msg) -> &'static str {
        m.text(self.lang.get())
    }

    pub fn tf(&self, m: Msg, args: &[(&str, &str)]) -> String {
        fill(self.t(m), args)
    }

    /// Shows `n` (replacing any notice); an ok notice goes by itself after a while, a
    /// problem stays until the user leaves the screen.
    pub fn show(&self, n: Notice) {
        let n = Notice {
            serial: self
                .notice
                .with_untracked(|o| o.as_ref().map_or(0, |o| o.serial))
                + 1,
            ..n
        };
        let (serial, ok) = (n.serial, n.ok);
        self.notice.set(Some(n));
        if ok {
            let notice = self.notice;
            set_timeout(
                move || {
                    if notice.with_untracked(|n| n.as_ref().is_some_and(|n| n.serial == serial)) {
                        notice.set(None);
                    }
                },
                std::time::Duration::from_millis(NOTICE_MS),
            );
        }
    }

    /// A notice about the screen the user is on now.
    pub fn notify(&self, m: Msg, ok: bool) {
        let here = self.route.get_untracked();
        self.show(if ok {
            Notice::ok(here, m)
        } else {
            Notice::bad(here, m)
        });
    }

    /// A problem in the server's words (they are Japanese for the desk's row errors).
    pub fn notify_text(&self, text: String) {
        self.show(Notice::text(self.route.get_untracked(), text));
    }

    /// The user went to `r`: a notice of another screen goes.
    pub fn navigated(&self, r: Route) {
        if self
            .notice
            .with_untracked(|n| n.as_ref().is_some_and(|n| n.route != r))
        {
            self.notice.set(None);
        }
        self.route.set(r);
    }
}

/// How long an ok notice (保存しました, with 取り消す) stays.
pub const NOTICE_MS: u64 = 8_000;

/// What a save can be undone with: the record it created, at `path` of document `doc`.
#[derive(Debug, Clone, PartialEq)]
pub struct Undo {
    pub doc: String,
    pub path: Vec<String>,
}

/// The notice after a save or a failure. It belongs to the screen it was made for and is
/// gone when the user goes elsewhere; it floats over the screen (nothing moves).
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// The screen it belongs to.
    pub route: Route,
    pub msg: Msg,
    /// The server's own words, shown instead of `msg`.
    pub text: Option<String>,
    pub ok: bool,
    /// 取り消す, for a save that created a record.
    pub undo: Option<Undo>,
    /// Tells one notice from the next (the timer hides only its own).
    pub serial: u64,
}

impl Notice {
    pub fn ok(route: Route, msg: Msg) -> Notice {
        Notice {
            route,
            msg,
            text: None,
            ok: true,
            undo: None,
            serial: 0,
        }
    }

    /// 保存しました, with 取り消す when `undo` says what the save created.
    pub fn saved(route: Route, undo: Option<Undo>) -> Notice {
        Notice {
            undo,
            ..Notice::ok(route, Msg::Saved)
        }
    }

    pub fn bad(route: Route, msg: Msg) -> Notice {
        Notice {
            ok: false,
            ..Notice::ok(route, msg)
        }
    }

    pub fn text(route: Route, text: String) -> Notice {
        Notice {
            text: Some(text),
            ..Notice::bad(route, Msg::ErrServer)
        }
    }
}

impl Default for Ctx {
    fn default() -> Self {
        Ctx::new()
    }
}

pub fn use_ctx() -> Ctx {
    expect_context::<Ctx>()
}

pub fn current_hash() -> String {
    web_sys::window()
        .and_then(|w| w.location().hash().ok())
        .unwrap_or_default()
}

fn local_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

/// A small preference from localStorage (language, text size: nothing personal).
pub fn pref(key: &str) -> Option<String> {
    local_storage()?.get_item(&format!("mimamori.{key}")).ok()?
}

pub fn clear_pref(key: &str) {
    if let Some(s) = local_storage() {
        let _ = s.remove_item(&format!("mimamori.{key}"));
    }
}

pub fn set_pref(key: &str, value: &str) {
    if let Some(s) = local_storage() {
        let _ = s.set_item(&format!("mimamori.{key}"), value);
    }
}

/// "14:05" in Japan time for a Unix-ms instant.
pub fn clock(ms: f64) -> String {
    let jst = (ms as i64).div_euclid(1000) + 9 * 3600;
    let secs = jst.rem_euclid(86_400);
    let date = shared::Date::from_unix_ms_jst(ms as i64).unwrap_or_default();
    let today = crate::store::today();
    let hm = format!("{:02}:{:02}", secs / 3600, (secs % 3600) / 60);
    if date == today {
        hm
    } else {
        format!("{}/{} {hm}", date.month(), date.day())
    }
}

/// "2026/12/02 14:05" in Japan time: the whole date, for records kept for years (the
/// audit log).
pub fn date_time(ms: f64) -> String {
    let jst = (ms as i64).div_euclid(1000) + 9 * 3600;
    let secs = jst.rem_euclid(86_400);
    let d = shared::Date::from_unix_ms_jst(ms as i64).unwrap_or_default();
    format!(
        "{}/{:02}/{:02} {:02}:{:02}",
        d.year(),
        d.month(),
        d.day(),
        secs / 3600,
        (secs % 3600) / 60
    )
}

/// "HH:MM" now, Japan time.
pub fn now_hm() -> String {
    let jst = (crate::store::now_ms() as i64).div_euclid(1000) + 9 * 3600;
    let secs = jst.rem_euclid(86_400);
    format!("{:02}:{:02}", secs / 3600, (secs % 3600) / 60)
}

#[cfg(test)]
mod tests {
    use super::Route;

    #[test]
    fn every_route_survives_its_own_link() {
        let all = [
            Route::Home,
            Route::Person("p1".into()),
            Route::Visit("p1".into()),
            Route::EditVisit("p1".into(), "v1".into()),
            Route::Consult("p1".into()),
            Route::EditConsult("p1".into(), "c1".into()),
            Route::Consent("p1".into()),
            Route::Salons,
            Route::Salon("s1".into()),
            Route::Session("s1".into(), "2026-11-25".into()),
            Route::Member("s1".into()),
            Route::Map(None),
            Route::Map(Some("m1".into())),
            Route::Settings,
            Route::Roster,
            Route::Disaster,
            Route::Audit,
            Route::UserDevices,
            Route::Desk("reports".into()),
        ];
        for r in all {
            assert_eq!(Route::parse(&r.href()), r, "{}", r.href());
        }
    }

    #[test]
    fn unknown_or_garbage_hashes_go_home() {
        for h in [
            "",
            "#",
            "#/nothing",
            "#/person",
            "#/salon/x/session",
            "#//////",
            "#/person/a/b/c",
        ] {
            assert_eq!(Route::parse(h), Route::Home, "{h}");
        }
    }
}
