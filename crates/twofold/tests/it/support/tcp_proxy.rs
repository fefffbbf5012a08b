//! A TCP relay in front of a real server (PostgreSQL), which a test can cut: to make the
//! database unreachable to Twofold without stopping the server other tests use.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// How the relay treats connections now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// Relays both ways.
    Open = 0,
    /// Accepts and then says nothing, like a host that vanished behind a firewall.
    Blackhole = 1,
    /// Refuses connections, like a stopped server.
    Refuse = 2,
}

pub struct TcpProxy {
    pub port: u16,
    upstream: String,
    mode: Arc<AtomicU8>,
    generation: Arc<AtomicU8>,
    accept: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl TcpProxy {
    pub async fn start(upstream: &str) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let proxy = TcpProxy {
            port,
            upstream: upstream.to_owned(),
            mode: Arc::new(AtomicU8::new(Mode::Open as u8)),
            generation: Arc::new(AtomicU8::new(0)),
            accept: std::sync::Mutex::new(None),
        };
        proxy.listen(listener);
        proxy
    }

    fn listen(&self, listener: TcpListener) {
        let (m, g, upstream) = (self.mode.clone(), self.generation.clone(), self.upstream.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (mode, generation, upstream) = (m.clone(), g.clone(), upstream.clone());
                tokio::spawn(relay(client, upstream, mode, generation));
            }
        });
        *self.accept.lock().unwrap() = Some(task);
    }

    /// Changes the mode; connections relayed so far are cut unless it is `Open`. `Refuse`
    /// closes the port itself, so that connecting fails as with a stopped server.
    pub async fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
        let running = self.accept.lock().unwrap().take();
        match (mode, running) {
            (Mode::Refuse, Some(task)) => {
                task.abort();
                let _ = task.await;
            }
            (Mode::Refuse, None) => {}
            (_, Some(task)) => *self.accept.lock().unwrap() = Some(task),
            (_, None) => {
                let socket = tokio::net::TcpSocket::new_v4().unwrap();
                socket.set_reuseaddr(true).unwrap();
                socket.bind(([127, 0, 0, 1], self.port).into()).unwrap();
                self.listen(socket.listen(64).unwrap());
            }
        }
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        if let Some(task) = self.accept.lock().unwrap().take() {
            task.abort();
        }
    }
}

async fn relay(mut client: TcpStream, upstream: String, mode: Arc<AtomicU8>, generation: Arc<AtomicU8>) {
    let born = generation.load(Ordering::SeqCst);
    match mode.load(Ordering::SeqCst) {
        m if m == Mode::Blackhole as u8 => {
            // Hold the connection, read and drop whatever comes, answer nothing.
            let mut sink = tokio::io::sink();
            let _ = tokio::io::copy(&mut client, &mut sink).await;
            return;
        }
        _ => {}
    }
    let Ok(mut server) = TcpStream::connect(&upstream).await else { return };
    let cut = async {
        while generation.load(Ordering::SeqCst) == born {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        () = cut => {}
    }
}
