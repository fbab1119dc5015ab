//! `/admin`: the user list, for role `admin` only. Anyone else gets a clear 403 and no data.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::layout::Protected;
use crate::server_fns;
use crate::session::{use_session, with_auth};

#[component]
pub fn Admin() -> impl IntoView {
    view! {
        <Title text="Admin" />
        <h1>"Admin"</h1>
        <Protected>
            <UserList />
        </Protected>
    }
}

#[component]
fn UserList() -> impl IntoView {
    let session = use_session();
    let users = LocalResource::new(move || with_auth(session, || server_fns::admin_users(None, None)));
    move || match users.get() {
        None => view! {
            <p class="placeholder" aria-busy="true">
                "Loading users…"
            </p>
        }
        .into_any(),
        Some(Err(e)) if e.status == 403 => view! {
            <section class="card forbidden" data-testid="forbidden">
                <h2>"403 forbidden: admins only"</h2>
                <p>
                    "Your token is valid, so you are authenticated, but its role claim is "<code>"user"</code>
                    ". This page needs "<code>"admin"</code>": that is authorization, and it said no."
                </p>
            </section>
        }
        .into_any(),
        Some(Err(e)) => view! {
            <p class="error" role="alert">
                {e.explain()}
            </p>
        }
        .into_any(),
        Some(Ok(list)) => view! {
            <table class="users" data-testid="user-list">
                <caption>{format!("{} users", list.users.len())}</caption>
                <thead>
                    <tr>
                        <th scope="col">"Email"</th>
                        <th scope="col">"Name"</th>
                        <th scope="col">"Role"</th>
                        <th scope="col">"Since"</th>
                    </tr>
                </thead>
                <tbody>
                    {list
                        .users
                        .into_iter()
                        .map(|u| {
                            view! {
                                <tr>
                                    <td>{u.email.to_string()}</td>
                                    <td>{u.name.unwrap_or_default()}</td>
                                    <td>{u.role.as_str()}</td>
                                    <td>{u.created_at}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        }
        .into_any(),
    }
}
