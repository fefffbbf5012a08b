//! The floor of the RADIUS phase: a UDP echo on loopback, one thread, that answers each
//! datagram with itself. Prints its port, then serves until killed.
//!
//!     udp-echo
#![allow(clippy::expect_used)]

use std::io::Write;
use std::net::UdpSocket;

fn main() {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a loopback port");
    let port = socket.local_addr().expect("local address").port();
    println!("{port}");
    std::io::stdout().flush().expect("print the port");
    let mut buf = [0u8; 4096];
    loop {
        if let Ok((n, from)) = socket.recv_from(&mut buf) {
            let _ = socket.send_to(buf.get(..n).unwrap_or_default(), from);
        }
    }
}
