//! The screens, one module each; [`screen`] picks one for the route.

pub mod desk;
pub mod devices;
pub mod lock;
pub mod login;
pub mod map;
pub mod office;
pub mod person;
pub mod salon;
pub mod settings;
pub mod today;

use crate::data::{self, Home};
use crate::state::Route;
use leptos::prelude::*;

pub fn screen(route: Route) -> AnyView {
    match route {
        // Each user opens where their work is: a salon leader on サロン, a 自主防災組織 on
        // the roster (shared::access::Access::home).
        Route::Home => match data::home() {
            Home::Roster => view! { <office::RosterScreen/> }.into_any(),
            Home::Salons => view! { <salon::SalonList/> }.into_any(),
            Home::Today => view! { <today::Today/> }.into_any(),
        },
        Route::Person(id) => view! { <person::PersonPage id=id/> }.into_any(),
        Route::Visit(id) => view! { <person::VisitForm id=id/> }.into_any(),
        Route::EditVisit(id, v) => view! { <person::VisitForm id=id record=v/> }.into_any(),
        Route::Consult(id) => view! { <person::ConsultForm id=id/> }.into_any(),
        Route::EditConsult(id, c) => view! { <person::ConsultForm id=id record=c/> }.into_any(),
        Route::Consent(id) => view! { <person::ConsentForm id=id/> }.into_any(),
        Route::Salons => view! { <salon::SalonList/> }.into_any(),
        Route::Salon(id) => view! { <salon::SalonPage id=id/> }.into_any(),
        Route::Session(id, date) => view! { <salon::SessionPage id=id date=date/> }.into_any(),
        Route::Member(id) => view! { <salon::MemberForm id=id/> }.into_any(),
        Route::Map(id) => view! { <map::MapScreen id=id/> }.into_any(),
        Route::Settings => view! { <settings::Settings/> }.into_any(),
        Route::Roster => view! { <office::RosterScreen/> }.into_any(),
        Route::Disaster => view! { <office::DisasterScreen/> }.into_any(),
        Route::Audit => view! { <office::AuditScreen/> }.into_any(),
        Route::UserDevices => view! { <office::UserDevicesScreen/> }.into_any(),
        Route::Desk(tab) => view! { <desk::Desk tab=tab/> }.into_any(),
    }
}
