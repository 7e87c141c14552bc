//! Who the client is: its address as the throttles group it, the proxies whose
//! `X-Forwarded-For` is believed, and what a request says about where it comes from.
//! Configuration, transport, throttles, store and audit all read these, so they belong
//! to none of them.

mod network;
mod proxies;

pub use network::client_network;
pub use proxies::TrustedProxies;

/// Where a request comes from, as recorded on a session and in audit lines.
#[derive(Debug, Clone, Default)]
pub struct ClientMeta {
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}
