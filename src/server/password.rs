//! Credentials: email normalisation, the password policy, and argon2id hashing on a bounded
//! pool of dedicated threads.
//!
//! Why dedicated threads and not `spawn_blocking`: each hash needs 19 MiB. A fixed number of
//! workers, each reusing one buffer, bounds both CPU (a core stays free for token checks) and
//! memory (`workers × 19 MiB`, whatever the load), and a bounded queue turns overload into a
//! quick 503 instead of an ever-growing backlog.

use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use argon2::password_hash::phc::{Output, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use crate::error::AuthError;
use crate::ids::Email;

/// OWASP's argon2id baseline, fixed by the contract: m=19456 KiB, t=2, p=1.
pub fn params() -> Params {
    // The constants are valid, so this cannot fail; `DEFAULT` is exactly this triple.
    Params::DEFAULT
}

const SALT_LEN: usize = 16;
const OUTPUT_LEN: usize = 32;
const MAX_EMAIL_LEN: usize = 254;
const MIN_PASSWORD_CHARS: usize = 8;
const MAX_PASSWORD_CHARS: usize = 128;

/// Trim Unicode white space, lowercase, and accept only a plain ASCII address.
///
/// # Errors
/// [`AuthError::InvalidEmail`] with the reason.
pub fn normalize_email(raw: &str) -> Result<String, AuthError> {
    let email = raw.trim().to_lowercase();
    if email.is_empty() {
        return Err(AuthError::InvalidEmail("email is required"));
    }
    if !email.is_ascii() {
        return Err(AuthError::InvalidEmail("email must be an ASCII address"));
    }
    if email.len() > MAX_EMAIL_LEN {
        return Err(AuthError::InvalidEmail("email must be at most 254 characters"));
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err(AuthError::InvalidEmail("email must contain @"));
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~.".contains(&b));
    let domain_ok = domain.contains('.')
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if local_ok && domain_ok { Ok(email) } else { Err(AuthError::InvalidEmail("email is not a valid address")) }
}

impl Email {
    /// Trim Unicode white space, lowercase, and accept only a plain ASCII address.
    ///
    /// # Errors
    /// [`AuthError::InvalidEmail`] with the reason.
    pub fn parse(raw: &str) -> Result<Email, AuthError> {
        normalize_email(raw).map(Email::from_trusted)
    }
}

/// The sign-up and new-password policy: 8 to 128 Unicode code points, never trimmed.
///
/// # Errors
/// [`AuthError::WeakPassword`] with the rule that failed.
pub fn check_password_policy(password: &str) -> Result<(), AuthError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(AuthError::WeakPassword("password must be at least 8 characters"));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(AuthError::WeakPassword("password must be at most 128 characters"));
    }
    Ok(())
}

type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

/// A bounded pool of argon2id workers. Cheap to clone.
#[derive(Clone)]
pub struct PasswordHasher {
    jobs: mpsc::SyncSender<Job>,
    computed: Arc<std::sync::atomic::AtomicU64>,
    /// Jobs queued and not yet taken by a worker (a gauge for the metrics).
    waiting: Arc<std::sync::atomic::AtomicUsize>,
}

/// How long a hash took on its worker, for `Server-Timing` and logs.
pub type HashTime = Duration;

impl PasswordHasher {
    /// Start `workers` threads that take jobs from a queue of `queue` slots.
    ///
    /// # Errors
    /// If the operating system refuses a thread.
    pub fn start(workers: usize, queue: usize) -> std::io::Result<PasswordHasher> {
        let (tx, rx) = mpsc::sync_channel::<Job>(queue);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..workers {
            let rx = Arc::clone(&rx);
            std::thread::Builder::new().name(format!("argon2-{i}")).spawn(move || {
                crate::sched::hashing_thread();
                let mut memory = vec![Block::default(); params().block_count()];
                loop {
                    // The lock is held only while waiting for the next job, never while hashing.
                    let job = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(&mut memory),
                        Err(_) => return, // every sender dropped: shut down
                    }
                }
            })?;
        }
        Ok(PasswordHasher { jobs: tx, computed: Arc::default(), waiting: Arc::default() })
    }

    /// Jobs waiting for a worker.
    pub fn waiting(&self) -> usize {
        self.waiting.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Hashes computed so far (jobs dropped unrun do not count).
    pub fn computed(&self) -> u64 {
        self.computed.load(std::sync::atomic::Ordering::Relaxed)
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<(T, HashTime), AuthError> {
        let (done, result) = tokio::sync::oneshot::channel();
        let span = tracing::Span::current();
        let computed = Arc::clone(&self.computed);
        let waiting = Arc::clone(&self.waiting);
        let taken = Arc::clone(&self.waiting);
        let job: Job = Box::new(move |memory| {
            taken.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            // The request that queued this is gone (the client hung up, the request timed
            // out): 19 MiB and tens of milliseconds for nobody. Drop it unrun.
            if done.is_closed() {
                return;
            }
            computed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let _entered = span.enter();
            let started = Instant::now();
            let out = f(memory);
            let took = started.elapsed();
            crate::meter::password_hash(took);
            let _ = done.send((out, took));
        });
        waiting.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.jobs
            .try_send(job)
            .inspect_err(|_| {
                waiting.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            })
            .map_err(|e| match e {
                mpsc::TrySendError::Full(_) => {
                    AuthError::Unavailable { what: "password hashing is saturated", retry_after: 1 }
                }
                mpsc::TrySendError::Disconnected(_) => AuthError::internal("hash workers stopped"),
            })?;
        result.await.map_err(|_| AuthError::internal("hash worker dropped a job"))
    }

    /// Hash a password into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
    ///
    /// # Errors
    /// [`AuthError::Unavailable`] when the queue is full.
    pub async fn hash(&self, password: String) -> Result<(String, HashTime), AuthError> {
        let (hash, took) = self.run(move |memory| hash_with(&password, memory)).await?;
        Ok((hash?, took))
    }

    /// Check a password against a PHC string in constant time. A hash that does not parse
    /// counts as a mismatch (and is logged), never as a match.
    ///
    /// # Errors
    /// [`AuthError::Unavailable`] when the queue is full.
    pub async fn verify(&self, password: String, phc: String) -> Result<(bool, HashTime), AuthError> {
        self.run(move |memory| verify_with(&password, &phc, memory)).await
    }
}

fn argon2(params: Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_with(password: &str, memory: &mut Vec<Block>) -> Result<String, AuthError> {
    let mut salt = [0u8; SALT_LEN];
    getrandom::fill(&mut salt).map_err(AuthError::internal)?;
    let params = params();
    let mut out = [0u8; OUTPUT_LEN];
    memory.resize(params.block_count(), Block::default());
    argon2(params.clone())
        .hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, &mut memory[..])
        .map_err(AuthError::internal)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: (&params).try_into().map_err(AuthError::internal)?,
        salt: Some(Salt::new(&salt).map_err(AuthError::internal)?),
        hash: Some(Output::new(&out).map_err(AuthError::internal)?),
    };
    Ok(phc.to_string())
}

fn verify_with(password: &str, phc: &str, memory: &mut Vec<Block>) -> bool {
    match try_verify(password, phc, memory) {
        Ok(matches) => matches,
        Err(e) => {
            tracing::error!(error = %e, "stored password hash does not parse");
            false
        }
    }
}

fn try_verify(password: &str, phc: &str, memory: &mut Vec<Block>) -> Result<bool, crate::error::Cause> {
    let parsed = PasswordHash::new(phc).map_err(|e| e.to_string())?;
    let algorithm = Algorithm::try_from(parsed.algorithm.as_str()).map_err(|e| e.to_string())?;
    let version = match parsed.version {
        Some(v) => Version::try_from(v).map_err(|e| e.to_string())?,
        None => Version::V0x10,
    };
    let salt = parsed.salt.ok_or("no salt")?;
    let expected = parsed.hash.ok_or("no hash")?;
    let params = Params::try_from(&parsed).map_err(|e| e.to_string())?;
    memory.resize(params.block_count(), Block::default());
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt.as_ref(), &mut out, &mut memory[..])
        .map_err(|e| e.to_string())?;
    let actual = Output::new(&out).map_err(|e| e.to_string())?;
    // `Output`'s equality is constant-time.
    Ok(actual == expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_trimmed_of_unicode_space_and_lowercased() {
        assert_eq!(normalize_email("\u{2003} Ada@Example.COM\t").unwrap(), "ada@example.com");
    }

    #[test]
    fn email_rejects_non_ascii_missing_at_and_overlong() {
        for bad in ["", "   ", "ada.example.com", "adá@example.com", "a@b", "@example.com", "a@.com", "a b@c.de"] {
            assert!(matches!(normalize_email(bad), Err(AuthError::InvalidEmail(_))), "{bad:?}");
        }
        let address = |first: usize| {
            format!("{}@{}.{}.{}.com", "a".repeat(64), "b".repeat(first), "c".repeat(60), "d".repeat(63))
        };
        let long = address(61);
        assert_eq!(long.len(), 255);
        assert!(normalize_email(&long).is_err());
        let max = address(60);
        assert_eq!(max.len(), 254);
        assert!(normalize_email(&max).is_ok());
    }

    #[test]
    fn password_policy_counts_code_points_and_never_trims() {
        assert!(check_password_policy("1234567").is_err());
        assert!(check_password_policy("12345678").is_ok());
        // Eight code points, more than eight bytes.
        assert!(check_password_policy("ééééééé").is_err());
        assert!(check_password_policy("éééééééé").is_ok());
        // Spaces count: not trimmed.
        assert!(check_password_policy("   pass ").is_ok());
        assert!(check_password_policy(&"x".repeat(128)).is_ok());
        assert!(check_password_policy(&"x".repeat(129)).is_err());
    }

    #[tokio::test]
    async fn hashes_are_argon2id_with_contract_parameters_and_verify() {
        let hasher = PasswordHasher::start(1, 4).unwrap();
        let (phc, _) = hasher.hash("correct horse".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(hasher.verify("correct horse".into(), phc.clone()).await.unwrap().0);
        assert!(!hasher.verify("correct horsE".into(), phc.clone()).await.unwrap().0);
        assert!(!hasher.verify("x".into(), "not a phc string".into()).await.unwrap().0);
        // Salted: the same password hashes differently.
        let (again, _) = hasher.hash("correct horse".into()).await.unwrap();
        assert_ne!(phc, again);
    }

    #[tokio::test]
    async fn a_full_queue_answers_unavailable_instead_of_growing() {
        let hasher = PasswordHasher::start(1, 1).unwrap();
        let calls: Vec<_> = (0..8).map(|_| hasher.hash("password1".into())).collect();
        let results = futures_join_all(calls).await;
        assert!(results.iter().any(|r| matches!(r, Err(AuthError::Unavailable { .. }))));
        assert!(results.iter().any(|r| r.is_ok()));
    }

    #[tokio::test]
    async fn a_job_whose_caller_left_is_never_computed() {
        let hasher = PasswordHasher::start(1, 16).unwrap();
        // The worker is busy with the first hash while three more wait; their callers leave.
        let mut first = Box::pin(hasher.hash("first password".into()));
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        assert!(first.as_mut().poll(&mut cx).is_pending());
        for _ in 0..3 {
            let mut gone = Box::pin(hasher.hash("abandoned".into()));
            assert!(gone.as_mut().poll(&mut cx).is_pending(), "queued");
            drop(gone);
        }
        first.await.unwrap();
        hasher.hash("last password".into()).await.unwrap();
        assert_eq!(hasher.computed(), 2, "the abandoned jobs were computed");
    }

    async fn futures_join_all<F: std::future::Future>(fs: Vec<F>) -> Vec<F::Output> {
        let mut out = Vec::new();
        let mut pinned: Vec<_> = fs.into_iter().map(Box::pin).collect();
        // Poll every future once so all enqueue before any completes, then await in order.
        for f in &mut pinned {
            let waker = std::task::Waker::noop();
            let mut cx = std::task::Context::from_waker(waker);
            if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                out.push(Some(v));
            } else {
                out.push(None);
            }
        }
        let mut results = Vec::new();
        for (f, early) in pinned.into_iter().zip(out) {
            results.push(match early {
                Some(v) => v,
                None => f.await,
            });
        }
        results
    }
}
