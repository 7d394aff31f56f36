//! ログインしている端末: a user's devices, on 設定 (their own) and on staff's 利用者の端末
//! (the user chosen there); another one (lost, or a family member's) can be signed out.

use crate::data::{self, NetError};
use crate::state::use_ctx;
use leptos::prelude::*;
use shared::api::DeviceInfo;
use shared::i18n::Msg;

/// The devices of this user, or with `of` of the user it names (staff).
#[component]
pub fn Devices(#[prop(optional)] of: Option<RwSignal<String>>) -> impl IntoView {
    let ctx = use_ctx();
    // The list is fetched when asked for (it needs signal), as an action.
    let load = Action::new_local(move |path: &String| {
        let path = path.clone();
        async move { data::get::<Vec<DeviceInfo>>(&path, None).await }
    });
    let path = move || match of {
        None => Some("/api/devices".to_string()),
        Some(u) => {
            let u = u.get_untracked();
            (!u.is_empty()).then(|| format!("/api/users/{u}/devices"))
        }
    };
    let show = move || {
        if let Some(p) = path() {
            load.dispatch(p);
        }
    };
    Effect::new(move |_| {
        if let Some(Err(e)) = load.value().get() {
            data::tell(ctx, &e);
        }
    });
    let sign_out = Action::new_local(move |id: &String| {
        let path = format!("/api/devices/{id}/revoke");
        async move { data::post::<(), serde_json::Value>(&path, None).await }
    });
    Effect::new(move |_| match sign_out.value().get() {
        Some(Ok(_)) => {
            ctx.notify(Msg::DeviceSignedOut, true);
            show();
        }
        Some(Err(NetError::Api(403, _))) => ctx.notify(Msg::ErrForbidden, false),
        Some(Err(e)) => data::tell(ctx, &e),
        None => {}
    });
    let list = move || {
        load.value()
            .get()
            .and_then(Result::ok)
            .map(|f| f.value)
            .unwrap_or_default()
    };
    view! {
        <section class="devices" data-testid="devices">
            <h2>{move || ctx.t(Msg::DevicesTitle)}</h2>
            <button class="secondary wide" data-testid="show-devices" disabled=move || load.pending().get() on:click=move |_| show()>
                {move || ctx.t(Msg::ShowDevices)}
            </button>
            <ul class="cards">
                <For each=list key=|d| (d.id.clone(), d.revoked, d.last_seen) let:d>
                    {
                        let id = d.id.clone();
                        let can_sign_out = !d.this_device && !d.revoked;
                        view! {
                            <li class="card" data-testid="device" data-this=d.this_device.to_string()>
                                <span class="name">{d.name.clone()} " " {d.this_device.then(|| view! { <span class="badge">{move || ctx.t(Msg::ThisDevice)}</span> })}</span>
                                <span class="sub">{move || ctx.tf(Msg::LastSeenAt, &[("time", &crate::state::clock(d.last_seen as f64))])} " · " {d.app_version.clone()}</span>
                                {d.revoked.then(|| view! { <span class="sub">{move || ctx.t(Msg::SignedOut)}</span> })}
                                {can_sign_out.then(|| view! {
                                    <button class="secondary" data-testid="sign-out-device" disabled=move || sign_out.pending().get()
                                        on:click=move |_| { sign_out.dispatch(id.clone()); }>
                                        {move || ctx.t(Msg::SignOutDevice)}
                                    </button>
                                })}
                            </li>
                        }
                    }
                </For>
            </ul>
        </section>
    }
}
