//! The screens, one module each; [`screen`] picks one for the route.

pub mod lock;
pub mod login;
pub mod map;
pub mod person;
pub mod salon;
pub mod settings;
pub mod today;

use crate::state::Route;
use leptos::prelude::*;

pub fn screen(route: Route) -> AnyView {
    match route {
        Route::Home => view! { <today::Today/> }.into_any(),
        Route::Person(id) => view! { <person::PersonPage id=id/> }.into_any(),
        Route::Visit(id) => view! { <person::VisitForm id=id/> }.into_any(),
        Route::Consult(id) => view! { <person::ConsultForm id=id/> }.into_any(),
        Route::Salons => view! { <salon::SalonList/> }.into_any(),
        Route::Salon(id) => view! { <salon::SalonPage id=id/> }.into_any(),
        Route::Session(id, date) => view! { <salon::SessionPage id=id date=date/> }.into_any(),
        Route::Member(id) => view! { <salon::MemberForm id=id/> }.into_any(),
        Route::Map(id) => view! { <map::MapScreen id=id/> }.into_any(),
        Route::Settings => view! { <settings::Settings/> }.into_any(),
    }
}
