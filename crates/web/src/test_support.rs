//! What the pages' unit tests share: a site over a fresh service (no currency) with one
//! user signed in.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use axum::Router;
use service::Role;

use crate::{CurrencyStatus, StatusSource};

/// The test user's password.
pub const PASSWORD: &str = "correct horse battery";

/// A status source with no currency.
pub struct NoStatus;

impl StatusSource for NoStatus {
    fn status(&self) -> Vec<CurrencyStatus> {
        Vec::new()
    }
}

/// The site over a fresh service with one user `login` of `role` in currency `demo`
/// (which the service does not have), running `currencies`, holding `account` if given,
/// signed in (a citizen with PIN 123456): the router and the session token.
pub async fn site_with_user(
    role: Role,
    login: &str,
    account: Option<u64>,
    currencies: &[&str],
) -> (Router, String) {
    let dir = tempfile::tempdir().unwrap().keep();
    let auth = service::Auth::open(&dir, true).unwrap();
    let service = Arc::new(service::Service::new(
        std::collections::BTreeMap::new(),
        Arc::new(auth),
    ));
    let user = service
        .auth
        .create(service::NewUser {
            login: login.into(),
            password: service::Secret::new(PASSWORD.into()),
            pin: (role == Role::Citizen).then(|| service::Secret::new("123456".into())),
            role,
            currency: "demo".into(),
            currencies: currencies.iter().map(|c| (*c).to_owned()).collect(),
            setup: None,
        })
        .await
        .unwrap();
    if let Some(account) = account {
        service.auth.set_account(user, account).unwrap();
    }
    let (token, _, _) = service.auth.sign_in(login, PASSWORD, None).await.unwrap();
    (crate::routes(Arc::new(NoStatus), service), token)
}

/// The pages over a fresh service (no currency) with the form key `[key; 32]`, so a
/// test can sign what the pages sign.
pub fn pages_with_key(key: u8) -> crate::Pages {
    let dir = tempfile::tempdir().unwrap().keep();
    let auth = service::Auth::open(&dir, true).unwrap();
    crate::Pages {
        status: Arc::new(NoStatus),
        service: Arc::new(service::Service::new(
            std::collections::BTreeMap::new(),
            Arc::new(auth),
        )),
        csrf: crate::session::CsrfKey::from_bytes([key; 32]),
        settings: Arc::default(),
    }
}

/// The signed-in pages (the citizen's and the merchant's) over `service`, with the form
/// key `[key; 32]`: the router and its pages (to sign what they sign).
pub fn signed_in_pages(service: Arc<service::Service>, key: u8) -> (Router, crate::Pages) {
    let pages = crate::Pages {
        status: Arc::new(NoStatus),
        service,
        csrf: crate::session::CsrfKey::from_bytes([key; 32]),
        settings: Arc::default(),
    };
    let router = Router::new()
        .route("/wallet", axum::routing::get(crate::wallet::wallet))
        .merge(crate::citizen::routes())
        .merge(crate::shop::routes())
        .with_state(pages.clone());
    (router, pages)
}
