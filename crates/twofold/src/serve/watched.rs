//! A connection that times itself out: idle too long between requests, or too slow to
//! send a request's headers once it has begun (slowloris). hyper's own header timer also
//! runs between keep-alive requests with one value for both, which would make a proxy's
//! pooled connection and a slow attacker share a deadline; this keeps them apart.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// The deadlines a connection is held to.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    pub header_read: Duration,
    pub idle: Duration,
}

/// What the connection's request handler tells its reader: requests in flight, and when
/// the last one ended. Times are milliseconds since the connection opened.
#[derive(Debug)]
pub struct Activity {
    opened: Instant,
    in_flight: AtomicUsize,
    idle_since: AtomicU64,
    /// When the first byte of a request head arrived, plus one; 0 while none has.
    head_started: AtomicU64,
    /// The reader's task while its read waits. hyper does not read again by itself after
    /// answering (the read it left pending has only the socket to wake it), so the end of
    /// a request wakes it here, to arm the idle deadline.
    reader: Mutex<Option<Waker>>,
}

impl Activity {
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
            head_started: AtomicU64::new(0),
            reader: Mutex::new(None),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// A request's head has arrived whole: no deadline while it is handled (the request
    /// timeout bounds that). The guard marks the connection idle again when dropped.
    pub fn request_started(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_started.store(0, Ordering::Release);
        InFlight(self.clone())
    }

    /// The moment past which the reader gives up, if it is waiting now.
    fn deadline(&self, limits: Deadlines) -> Option<Instant> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let at = match self.head_started.load(Ordering::Acquire) {
            0 => self.idle_since.load(Ordering::Acquire).saturating_add(ms(limits.idle)),
            started => (started - 1).saturating_add(ms(limits.header_read)),
        };
        Some(self.opened + Duration::from_millis(at))
    }

    fn bytes_arrived(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0 {
            let now = self.now_ms().saturating_add(1);
            let _ = self.head_started.compare_exchange(0, now, Ordering::AcqRel, Ordering::Acquire);
        }
    }
}

/// One request in flight on a connection.
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.idle_since.store(self.0.now_ms(), Ordering::Release);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        let waiting = self.0.reader.lock().ok().and_then(|mut reader| reader.take());
        if let Some(waker) = waiting {
            waker.wake();
        }
    }
}

/// The accepted stream, failing a read that waits past its deadline.
pub struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
    limits: Deadlines,
    timer: Option<(Instant, Pin<Box<Sleep>>)>,
}

impl<S> Watched<S> {
    pub fn new(inner: S, activity: Arc<Activity>, limits: Deadlines) -> Self {
        Watched { inner, activity, limits, timer: None }
    }

    /// Polls the deadline that applies now; `Ready` when it has passed.
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(deadline) = self.activity.deadline(self.limits) else {
            self.timer = None;
            if let Ok(mut reader) = self.activity.reader.lock() {
                *reader = Some(cx.waker().clone());
            }
            return Poll::Pending;
        };
        match &mut self.timer {
            Some((at, sleep)) if *at == deadline => sleep.as_mut().poll(cx),
            _ => {
                let mut sleep = Box::pin(tokio::time::sleep_until(deadline));
                let polled = sleep.as_mut().poll(cx);
                self.timer = Some((deadline, sleep));
                polled
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.activity.bytes_arrived();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => match self.poll_deadline(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "client too slow or idle"))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const LIMITS: Deadlines = Deadlines { header_read: Duration::from_millis(200), idle: Duration::from_millis(600) };

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_ends_after_the_idle_timeout() {
        let (client, server) = tokio::io::duplex(64);
        let mut watched = Watched::new(server, Activity::new(), LIMITS);
        let started = tokio::time::Instant::now();
        let mut buf = [0u8; 8];
        let e = watched.read(&mut buf).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_millis(600));
        drop(client);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_head_ends_after_the_header_timeout_from_its_first_byte() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut watched = Watched::new(server, Activity::new(), LIMITS);
        let mut buf = [0u8; 8];
        tokio::time::sleep(Duration::from_millis(500)).await;
        client.write_all(b"G").await.unwrap();
        assert_eq!(watched.read(&mut buf).await.unwrap(), 1);
        let started = tokio::time::Instant::now();
        let e = watched.read(&mut buf).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_millis(200), "from the first byte, not the connection");
    }

    #[tokio::test(start_paused = true)]
    async fn no_deadline_while_a_request_is_handled_and_the_idle_clock_restarts_after() {
        let (_client, server) = tokio::io::duplex(64);
        let activity = Activity::new();
        let mut watched = Watched::new(server, activity.clone(), LIMITS);
        let handling = activity.request_started();
        let mut buf = [0u8; 8];
        let read = tokio::time::timeout(Duration::from_secs(5), watched.read(&mut buf)).await;
        assert!(read.is_err(), "still waiting after 5 s: no deadline while handling");
        drop(handling);
        let started = tokio::time::Instant::now();
        assert!(watched.read(&mut buf).await.is_err());
        assert_eq!(started.elapsed(), Duration::from_millis(600));
    }

    #[tokio::test(start_paused = true)]
    async fn a_read_left_waiting_during_a_request_is_woken_to_arm_the_idle_deadline() {
        // hyper's way: one read left pending while the request is handled, not polled again
        // unless something wakes it.
        let (_client, server) = tokio::io::duplex(64);
        let activity = Activity::new();
        let handling = activity.request_started();
        let mut watched = Watched::new(server, activity.clone(), LIMITS);
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 8];
            watched.read(&mut buf).await.map_err(|e| e.kind())
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        drop(handling);
        let ended = tokio::time::timeout(Duration::from_secs(5), reader).await;
        assert_eq!(ended.expect("the idle deadline fired").unwrap(), Err(io::ErrorKind::TimedOut));
    }
}
