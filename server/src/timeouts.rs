//! A connection's two clocks, kept without a timer per request or a clock read per socket
//! read: it must send each request head within the head timeout (counted from its start and from
//! the end of each response), and it is closed after the idle timeout without any traffic.
//! Together they keep a client that trickles bytes, or holds a socket open and says nothing,
//! from pinning a task and a connection slot.
//!
//! Traffic only sets a flag and a request only bumps a counter; one timer per connection fires
//! every quarter of the shorter timeout and counts the periods in a row without progress. A
//! connection is closed after between one and one and a quarter of a timeout, never sooner.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::rt::{Read, ReadBufCursor, Write};
use tokio::time::{Instant, Sleep};

/// Periods per timeout: the timer fires this often within the shorter one.
const SLICES: u32 = 4;

/// The requests of one connection being handled: while there are none, the connection owes the
/// server a request head.
#[derive(Default)]
pub struct Requests {
    in_flight: AtomicUsize,
}

impl Requests {
    /// A request head has arrived; its handling lasts as long as the guard.
    pub fn start(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(Arc::clone(self))
    }

    fn none(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) == 0
    }
}

/// One request being handled (see [`Requests::start`]).
pub struct InFlight(Arc<Requests>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

pin_project_lite::pin_project! {
    /// A request's future, counted in flight until it finishes or is dropped.
    pub struct Counted<F> {
        #[pin]
        inner: F,
        in_flight: InFlight,
    }
}

impl<F> Counted<F> {
    pub fn new(inner: F, in_flight: InFlight) -> Counted<F> {
        Counted { inner, in_flight }
    }
}

impl<F: Future> Future for Counted<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.project().inner.poll(cx)
    }
}

/// A connection's socket, watched for silence and for a request head that never comes.
pub struct Watched<T> {
    inner: T,
    requests: Arc<Requests>,
    period: Duration,
    /// Periods of silence, and of waiting for a head, after which the connection fails.
    idle_periods: u32,
    head_periods: u32,
    /// Traffic of any kind since the timer last fired.
    active: bool,
    /// Response bytes written since the timer last fired.
    wrote: bool,
    /// Periods in a row without traffic.
    silent: u32,
    /// Periods in a row with no request in flight and no response being written.
    headless: u32,
    tick: Pin<Box<Sleep>>,
}

impl<T> Watched<T> {
    pub fn new(inner: T, requests: Arc<Requests>, idle: Duration, head: Duration) -> Watched<T> {
        let period = (idle.min(head) / SLICES).max(Duration::from_millis(1));
        let periods = |timeout: Duration| {
            u32::try_from(timeout.as_nanos().div_ceil(period.as_nanos())).unwrap_or(u32::MAX).max(1)
        };
        Watched {
            inner,
            requests,
            period,
            idle_periods: periods(idle),
            head_periods: periods(head),
            active: true,
            wrote: false,
            silent: 0,
            headless: 0,
            tick: Box::pin(tokio::time::sleep(period)),
        }
    }

    /// Reading: noted, to be looked at when the timer next fires.
    fn read(&mut self) {
        self.active = true;
    }

    /// Writing a response: traffic, and no head is owed while it lasts.
    fn wrote(&mut self) {
        self.active = true;
        self.wrote = true;
    }

    /// Still waiting for the socket: count the periods that passed without progress, and fail
    /// once either clock runs out.
    fn check<R>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
        while self.tick.as_mut().poll(cx).is_ready() {
            let active = std::mem::take(&mut self.active);
            let wrote = std::mem::take(&mut self.wrote);
            self.silent = if active { 0 } else { self.silent + 1 };
            self.headless = if self.requests.none() && !wrote { self.headless + 1 } else { 0 };
            if self.silent >= self.idle_periods {
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "connection idle")));
            }
            if self.headless >= self.head_periods {
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "no request head in time")));
            }
            // From now, not from the missed deadline: time the task was not polled (a long
            // request) is not silence.
            self.tick.as_mut().reset(Instant::now() + self.period);
        }
        Poll::Pending
    }
}

impl<T: Read + Unpin> Read for Watched<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: ReadBufCursor<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                this.read();
                Poll::Ready(result)
            }
            Poll::Pending => this.check(cx),
        }
    }
}

impl<T: Write + Unpin> Write for Watched<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(result) => {
                this.wrote();
                Poll::Ready(result)
            }
            Poll::Pending => this.check(cx),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Pending => this.check(cx),
            ready => ready,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(result) => {
                this.wrote();
                Poll::Ready(result)
            }
            Poll::Pending => this.check(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::rt::ReadBuf;
    use hyper_util::rt::TokioIo;
    use tokio::io::AsyncWriteExt;

    const IDLE: Duration = Duration::from_secs(60);
    const HEAD: Duration = Duration::from_secs(10);

    type Socket = Watched<TokioIo<tokio::io::DuplexStream>>;

    fn watched(idle: Duration, head: Duration) -> (Socket, tokio::io::DuplexStream, Arc<Requests>) {
        let (ours, theirs) = tokio::io::duplex(64);
        let requests = Arc::new(Requests::default());
        (Watched::new(TokioIo::new(ours), Arc::clone(&requests), idle, head), theirs, requests)
    }

    /// Read what arrives, or the error.
    async fn read(socket: &mut Socket) -> io::Result<usize> {
        let mut storage = [0u8; 64];
        let mut buf = ReadBuf::new(&mut storage);
        std::future::poll_fn(|cx| Pin::new(&mut *socket).poll_read(cx, buf.unfilled())).await?;
        Ok(buf.filled().len())
    }

    /// The peer sends a byte every `every`, `times` times.
    fn trickle(mut theirs: tokio::io::DuplexStream, every: Duration, times: u32) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            for _ in 0..times {
                tokio::time::sleep(every).await;
                if theirs.write_all(b"x").await.is_err() {
                    return;
                }
            }
            std::future::pending::<()>().await;
        })
    }

    /// Read until the connection fails; how long that took.
    async fn until_closed(socket: &mut Socket) -> (io::Error, Duration) {
        let started = Instant::now();
        loop {
            if let Err(error) = read(socket).await {
                return (error, started.elapsed());
            }
            assert!(started.elapsed() < IDLE * 5, "never closed");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn silence_closes_after_one_to_one_and_a_quarter_timeouts() {
        let (mut socket, _theirs, requests) = watched(IDLE, IDLE);
        // Even in the middle of a request: a silent connection is gone.
        let _in_flight = requests.start();
        let (error, waited) = until_closed(&mut socket).await;
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(waited >= IDLE && waited <= IDLE + IDLE / SLICES, "closed after {waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickled_head_is_cut_off_after_the_head_timeout() {
        let (mut socket, theirs, _requests) = watched(IDLE, HEAD);
        let _talker = trickle(theirs, Duration::from_secs(1), u32::MAX);
        let (error, waited) = until_closed(&mut socket).await;
        assert_eq!(error.to_string(), "no request head in time");
        assert!(waited >= HEAD && waited <= HEAD + HEAD / SLICES, "closed after {waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn traffic_keeps_a_connection_open_while_its_request_lasts() {
        let (mut socket, theirs, requests) = watched(IDLE, HEAD);
        let in_flight = requests.start();
        let _talker = trickle(theirs, IDLE * 9 / 10, 10);
        for _ in 0..10 {
            assert_eq!(read(&mut socket).await.unwrap(), 1, "closed while the request was running");
        }
        // The request is answered: from now the next head is owed, and silence is counted too.
        drop(in_flight);
        let (error, waited) = until_closed(&mut socket).await;
        assert_eq!(error.to_string(), "no request head in time");
        assert!(waited >= HEAD && waited <= HEAD + HEAD / SLICES, "closed after {waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn writing_a_response_is_not_waiting_for_a_head() {
        let (mut socket, mut theirs, _requests) = watched(IDLE, HEAD);
        // A slow reader of a long response: each write waits for the peer to read, which it
        // does a few bytes a second, for three head timeouts.
        let reader = tokio::spawn(async move {
            let mut byte = [0u8; 8];
            let started = Instant::now();
            while started.elapsed() < HEAD * 3 {
                tokio::time::sleep(Duration::from_secs(1)).await;
                tokio::io::AsyncReadExt::read(&mut theirs, &mut byte).await.unwrap();
            }
            theirs
        });
        let body = vec![b'x'; 64 + 8 * 30];
        let mut written = 0;
        while written < body.len() {
            let n = std::future::poll_fn(|cx| Pin::new(&mut socket).poll_write(cx, &body[written..])).await;
            written += n.expect("a connection writing its response is not cut off");
        }
        let _theirs = reader.await.unwrap();
    }
}
