//! The OpenID Provider's tables: signing keys, registered applications, and the grants with
//! their codes and tokens (all codes and tokens stored as hashes).

pub mod clients;
pub mod grants;
pub mod keys;
