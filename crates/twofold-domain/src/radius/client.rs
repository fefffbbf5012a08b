//! What a RADIUS client is registered with: the addresses it sends from, how it gives
//! the code, and the rule on its shared secret.

use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

/// How a client's people give their code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Password first; an Access-Challenge asks for the code (the default).
    Challenge,
    /// The password followed by the six-digit code, in one `User-Password`.
    Append,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Challenge => "challenge",
            Mode::Append => "append",
        }
    }

    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "challenge" => Some(Mode::Challenge),
            "append" => Some(Mode::Append),
            _ => None,
        }
    }
}

/// Shortest shared secret accepted (SEC-53): the secret keys both the password hiding and
/// every authenticator, so a short one can be found offline from one captured packet.
pub const MIN_SECRET_CHARS: usize = 16;

/// Longest shared secret accepted: more adds nothing to MD5's 128 bits.
pub const MAX_SECRET_CHARS: usize = 128;

/// Why a secret was refused, in words for the operator.
pub fn check_secret(secret: &str) -> Result<(), &'static str> {
    let chars = secret.chars().count();
    if chars < MIN_SECRET_CHARS {
        Err("the shared secret must have at least 16 characters")
    } else if chars > MAX_SECRET_CHARS {
        Err("the shared secret must have at most 128 characters")
    } else if secret.chars().any(char::is_control) {
        Err("the shared secret must not hold control characters")
    } else {
        Ok(())
    }
}

/// The source addresses of a client: one address, or a CIDR block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(IpNet);

impl ClientAddress {
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.contains(&canonical(ip))
    }

    /// Longer prefixes are more specific: a client registered for one address wins over
    /// one registered for the whole network around it.
    pub fn prefix_len(&self) -> u8 {
        self.0.prefix_len()
    }
}

impl FromStr for ClientAddress {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let net = match s.parse::<IpNet>() {
            Ok(net) => net.trunc(),
            Err(_) => IpNet::from(s.parse::<IpAddr>().map_err(|_| "not an IP address or CIDR block")?),
        };
        Ok(ClientAddress(net))
    }
}

impl std::fmt::Display for ClientAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpNet::V4(n) if n.prefix_len() == 32 => write!(f, "{}", n.addr()),
            IpNet::V6(n) if n.prefix_len() == 128 => write!(f, "{}", n.addr()),
            net => write!(f, "{net}"),
        }
    }
}

/// An IPv4-mapped IPv6 source (a dual-stack socket) as the IPv4 address it carries.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The most specific of the clients whose addresses contain `ip`.
pub fn best_match<'a, T>(ip: IpAddr, clients: impl IntoIterator<Item = (&'a ClientAddress, T)>) -> Option<T> {
    clients.into_iter().filter(|(a, _)| a.contains(ip)).max_by_key(|(a, _)| a.prefix_len()).map(|(_, t)| t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> ClientAddress {
        s.parse().unwrap()
    }

    #[test]
    fn sec_53_a_short_secret_is_refused() {
        assert!(check_secret("fifteen-chars!!").is_err());
        assert!(check_secret("sixteen-chars!!!").is_ok());
        assert!(check_secret(&"x".repeat(129)).is_err());
        assert!(check_secret("sixteen-chars!!\u{7}").is_err());
    }

    #[test]
    fn addresses_and_blocks_match_their_sources() {
        let one = addr("192.0.2.10");
        assert!(one.contains("192.0.2.10".parse().unwrap()));
        assert!(!one.contains("192.0.2.11".parse().unwrap()));
        assert!(one.contains("::ffff:192.0.2.10".parse().unwrap()), "a dual-stack socket's mapped address");
        let block = addr("10.1.2.3/8");
        assert_eq!(block.to_string(), "10.0.0.0/8", "the host bits are dropped");
        assert!(block.contains("10.200.0.1".parse().unwrap()));
        assert!(addr("2001:db8::/32").contains("2001:db8:1::5".parse().unwrap()));
        assert!("example.org".parse::<ClientAddress>().is_err());
        assert!("10.0.0.0/33".parse::<ClientAddress>().is_err());
    }

    #[test]
    fn the_most_specific_client_wins() {
        let (wide, narrow) = (addr("10.0.0.0/8"), addr("10.0.0.7"));
        let clients = [(&wide, "office"), (&narrow, "vpn")];
        assert_eq!(best_match("10.0.0.7".parse().unwrap(), clients), Some("vpn"));
        assert_eq!(best_match("10.0.0.8".parse().unwrap(), clients), Some("office"));
        assert_eq!(best_match("192.0.2.1".parse().unwrap(), clients), None);
    }

    #[test]
    fn modes_parse_back() {
        for mode in [Mode::Challenge, Mode::Append] {
            assert_eq!(Mode::parse(mode.as_str()), Some(mode));
        }
        assert_eq!(Mode::parse("both"), None);
    }
}
