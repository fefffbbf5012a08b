//! SCIM 2.0 provisioning (RFC 7644): a company's directory creates, updates, deactivates
//! and removes its people and groups with an account token holding the `scim` scope. The
//! token acts as the Owner who made it, through the same permissions and lifecycle as the
//! Users tab; SCIM never touches the Owner and never changes a role (SEC-50).

mod groups;
mod users;

use serde_json::Value;
use twofold_domain::api_token::Scope;
use twofold_domain::scim::{Page, ScimError};

use crate::Error;
use crate::tokens::TokenCaller;

/// A page of resources as `ListResponse` carries them.
#[derive(Debug, Clone, PartialEq)]
pub struct ListPage {
    pub total: usize,
    pub start_index: usize,
    pub resources: Vec<Value>,
}

impl From<ScimError> for Error {
    fn from(e: ScimError) -> Self {
        match e.status {
            404 => Error::NotFound("No such resource."),
            409 => Error::Conflict { code: "uniqueness", message: e.detail },
            _ => Error::Invalid { code: e.scim_type.unwrap_or("invalidValue"), message: e.detail },
        }
    }
}

/// The scope every SCIM use case asks of its token.
fn require_scope(caller: &TokenCaller) -> crate::Result<()> {
    if caller.allows(Scope::Scim) {
        Ok(())
    } else {
        Err(Error::Refused { code: "insufficient_scope", message: "This token does not have the scim scope.".into() })
    }
}

/// A resource id from a URL: our ids are integers; anything else names nothing.
fn id_of(typed: &str) -> crate::Result<i64> {
    typed.parse::<i64>().ok().filter(|id| *id > 0).ok_or(Error::NotFound("No such resource."))
}

/// The page of `matching` that `page` asks for.
fn page_of(matching: Vec<Value>, page: Page) -> ListPage {
    let total = matching.len();
    let resources = matching.into_iter().skip(page.offset()).take(page.count).collect();
    ListPage { total, start_index: page.start_index, resources }
}

/// A uniqueness conflict as SCIM names it.
fn taken(what: &str) -> Error {
    Error::Conflict { code: "uniqueness", message: format!("{what} is already in use.") }
}
