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
