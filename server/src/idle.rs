//! A connection that sees no traffic for a while is closed: idle keep-alive connections (and
//! clients that stop reading their response) cannot hold a socket and a task forever.
//!
//! Traffic only sets a flag (no clock read, no timer reset per read or write); a timer fires
//! every quarter of the timeout and counts the quarters without traffic. A connection is closed
//! after between one and one and a quarter timeouts of silence, never sooner.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::rt::{Read, ReadBufCursor, Write};
use tokio::time::{Instant, Sleep};

/// Quarters of the timeout: the timer's period.
const SLICES: u32 = 4;

pub struct IdleTimeout<T> {
    inner: T,
    slice: Duration,
    /// Traffic since the timer last fired.
    active: bool,
    /// Periods in a row without traffic.
    silent: u32,
    tick: Pin<Box<Sleep>>,
}

impl<T> IdleTimeout<T> {
    pub fn new(inner: T, timeout: Duration) -> IdleTimeout<T> {
        let slice = timeout / SLICES;
        IdleTimeout { inner, slice, active: true, silent: 0, tick: Box::pin(tokio::time::sleep(slice)) }
    }

    /// Traffic: noted, to be read when the timer next fires.
    fn active(&mut self) {
        self.active = true;
    }

    /// Still waiting for traffic: after `SLICES` silent periods in a row, the connection fails.
    fn check<R>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
        while self.tick.as_mut().poll(cx).is_ready() {
            if std::mem::take(&mut self.active) {
                self.silent = 0;
            } else {
                self.silent += 1;
            }
            if self.silent >= SLICES {
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "connection idle")));
            }
            // From now, not from the missed deadline: time the task was not polled (a long
            // request) is not silence.
            self.tick.as_mut().reset(Instant::now() + self.slice);
        }
        Poll::Pending
    }
}

impl<T: Read + Unpin> Read for IdleTimeout<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: ReadBufCursor<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                this.active();
                Poll::Ready(result)
            }
            Poll::Pending => this.check(cx),
        }
    }
}

impl<T: Write + Unpin> Write for IdleTimeout<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(result) => {
                this.active();
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
                this.active();
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

    const TIMEOUT: Duration = Duration::from_secs(60);

    /// Read what arrives, or the error, within `within`.
    async fn read(idle: &mut IdleTimeout<TokioIo<tokio::io::DuplexStream>>) -> io::Result<usize> {
        let mut storage = [0u8; 64];
        let mut buf = ReadBuf::new(&mut storage);
        std::future::poll_fn(|cx| Pin::new(&mut *idle).poll_read(cx, buf.unfilled())).await?;
        Ok(buf.filled().len())
    }

    #[tokio::test(start_paused = true)]
    async fn silence_closes_after_one_to_one_and_a_quarter_timeouts() {
        let (ours, _theirs) = tokio::io::duplex(64);
        let mut idle = IdleTimeout::new(TokioIo::new(ours), TIMEOUT);
        let started = Instant::now();
        let error = read(&mut idle).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        let waited = started.elapsed();
        assert!(waited >= TIMEOUT && waited <= TIMEOUT + TIMEOUT / SLICES, "closed after {waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn traffic_keeps_a_connection_open_however_long_it_lasts() {
        let (ours, mut theirs) = tokio::io::duplex(64);
        let mut idle = IdleTimeout::new(TokioIo::new(ours), TIMEOUT);
        let talker = tokio::spawn(async move {
            for _ in 0..10 {
                tokio::time::sleep(TIMEOUT * 9 / 10).await;
                theirs.write_all(b"x").await.unwrap();
            }
            theirs
        });
        for _ in 0..10 {
            assert_eq!(read(&mut idle).await.unwrap(), 1, "closed while the peer was talking");
        }
        let _theirs = talker.await.unwrap();
        // Then silence: closed again, counted from the last byte.
        let last = Instant::now();
        assert_eq!(read(&mut idle).await.unwrap_err().kind(), io::ErrorKind::TimedOut);
        assert!(last.elapsed() >= TIMEOUT);
    }
}
