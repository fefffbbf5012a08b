//! RADIUS (VPNs, Wi-Fi, SSH through PAM): the clients registered to ask, and what a
//! request gets. The same people, budgets and audit log as the web sign-in; the UDP
//! server is an adapter in `twofold-radius`.

mod access;
mod clients;
mod retransmissions;

pub use access::{RadiusAnswer, RadiusRequest};
pub(crate) use clients::secret_purpose;
pub use clients::{NewRadiusClient, RadiusClient, RadiusClientInfo};
pub use retransmissions::FirstSight;
