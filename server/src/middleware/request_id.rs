//! Request ids that cost a counter increment: a random prefix drawn once per process (so two
//! instances behind one balancer do not collide) and a sequence number, as 32 hex digits.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::HeaderValue;

static PREFIX: OnceLock<u64> = OnceLock::new();
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// The next id, e.g. `3f9a61c02d7be4a1-000000000000002a`.
pub fn next() -> HeaderValue {
    let prefix = *PREFIX.get_or_init(|| {
        let mut bytes = [0u8; 8];
        // Without the OS's randomness the time still tells restarted processes apart.
        if getrandom::fill(&mut bytes).is_err() {
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            bytes = (nanos.as_nanos() as u64 ^ u64::from(std::process::id())).to_le_bytes();
        }
        u64::from_le_bytes(bytes)
    });
    let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    let mut text = [0u8; 33];
    hex(prefix, &mut text[..16]);
    text[16] = b'-';
    hex(sequence, &mut text[17..]);
    // Hex digits and a dash are always a valid header value.
    HeaderValue::from_bytes(&text).unwrap_or_else(|_| HeaderValue::from_static("-"))
}

fn hex(mut n: u64, out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(n & 0xf) as usize];
        n >>= 4;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_share_the_process_prefix_and_count_up() {
        let a = next();
        let b = next();
        let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
        assert_eq!(a.len(), 33);
        assert_eq!(a[..17], b[..17], "same process, same prefix");
        let seq = |s: &str| u64::from_str_radix(&s[17..], 16).unwrap();
        assert!(seq(b) > seq(a));
    }
}
