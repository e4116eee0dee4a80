//! Delivery over SMTP. `send` only queues: a worker task delivers through a pooled connection,
//! retries transient failures with backoff, and gives up after a bounded time. So a slow or
//! dead mail server never delays an HTTP response, nor changes what it says.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::{JoinHandle, JoinSet};
use tracing::Instrument;

use super::template::render;
use super::{DeliveryStatus, Email, MailError, Mailer};
use secrecy::ExposeSecret;

use crate::config::{SmtpSettings, SmtpTls};

/// Messages waiting for the worker; beyond this, new ones are dropped (and logged).
const QUEUE_CAPACITY: usize = 1024;
/// Messages delivered at the same time.
const PARALLEL_DELIVERIES: usize = 4;
/// How long one SMTP conversation may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(15);

/// When to retry a delivery that failed for a reason that may pass.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    pub first_delay: Duration,
    pub max_delay: Duration,
    /// After this long since the first try, the message is given up.
    pub give_up_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            give_up_after: Duration::from_secs(600),
        }
    }
}

struct Job {
    email: Email,
    /// The request's span, so delivery logs carry its request id.
    span: tracing::Span,
}

/// Counts of delivery outcomes, in the order they happened.
#[derive(Default)]
struct Outcomes {
    /// Sequence number of the latest success and the latest failure (0 = never).
    last_success: AtomicU64,
    last_failure: AtomicU64,
    sequence: AtomicU64,
}

impl Outcomes {
    fn record(&self, ok: bool) {
        let n = self.sequence.fetch_add(1, Ordering::Relaxed) + 1;
        let slot = if ok {
            &self.last_success
        } else {
            &self.last_failure
        };
        slot.fetch_max(n, Ordering::Relaxed);
    }

    fn status(&self) -> DeliveryStatus {
        if self.last_failure.load(Ordering::Relaxed) > self.last_success.load(Ordering::Relaxed) {
            DeliveryStatus::Degraded
        } else {
            DeliveryStatus::Ok
        }
    }
}

/// The SMTP mailer: a bounded queue in front of a delivery task.
pub struct SmtpMailer {
    queue: Mutex<Option<mpsc::Sender<Job>>>,
    worker: Mutex<Option<JoinHandle<()>>>,
    outcomes: Arc<Outcomes>,
}

impl SmtpMailer {
    /// Starts the delivery task. Needs a running Tokio runtime.
    pub fn start(
        settings: &SmtpSettings,
        app_name: &str,
        retry: RetryPolicy,
    ) -> Result<Self, MailError> {
        let transport = transport(settings)?;
        let (queue, jobs) = mpsc::channel(QUEUE_CAPACITY);
        let outcomes = Arc::new(Outcomes::default());
        let sender = Sender {
            transport,
            from: settings.from.clone(),
            app_name: app_name.to_owned(),
            retry,
            outcomes: outcomes.clone(),
        };
        let worker = tokio::spawn(sender.run(jobs));
        Ok(Self {
            queue: Mutex::new(Some(queue)),
            worker: Mutex::new(Some(worker)),
            outcomes,
        })
    }
}

fn transport(settings: &SmtpSettings) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailError> {
    let host = settings.host.as_str();
    let builder = match settings.tls {
        SmtpTls::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host),
        SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host),
        SmtpTls::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
            host,
        )),
    }
    .map_err(|e| MailError(format!("SMTP_HOST {host:?} cannot be used: {e}")))?;
    let mut builder = builder.port(settings.port).timeout(Some(SMTP_TIMEOUT));
    if let (Some(user), Some(password)) = (&settings.username, &settings.password) {
        builder = builder.credentials(Credentials::new(
            user.clone(),
            password.expose_secret().to_owned(),
        ));
    }
    Ok(builder.build())
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, email: Email) -> Result<(), MailError> {
        let queue = self.queue.lock().ok().and_then(|q| q.clone());
        let Some(queue) = queue else {
            return Err(MailError("the mailer is shutting down".into()));
        };
        let job = Job {
            email,
            span: tracing::Span::current(),
        };
        queue.try_send(job).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => MailError("the mail queue is full".into()),
            mpsc::error::TrySendError::Closed(_) => MailError("the mail worker stopped".into()),
        })
    }

    fn status(&self) -> DeliveryStatus {
        self.outcomes.status()
    }

    async fn shutdown(&self, within: Duration) {
        // Closing the queue lets the worker finish what is queued and in flight, then stop.
        if let Ok(mut queue) = self.queue.lock() {
            queue.take();
        }
        let worker = self.worker.lock().ok().and_then(|mut w| w.take());
        if let Some(worker) = worker
            && tokio::time::timeout(within, worker).await.is_err()
        {
            tracing::warn!("mail still queued after {within:?} at shutdown; dropped");
        }
    }
}

/// The delivery task's side.
struct Sender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    app_name: String,
    retry: RetryPolicy,
    outcomes: Arc<Outcomes>,
}

impl Sender {
    async fn run(self, mut jobs: mpsc::Receiver<Job>) {
        let this = Arc::new(self);
        let slots = Arc::new(Semaphore::new(PARALLEL_DELIVERIES));
        let mut deliveries = JoinSet::new();
        while let Some(job) = jobs.recv().await {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                break;
            };
            let this = this.clone();
            let span = job.span.clone();
            deliveries.spawn(
                async move {
                    this.deliver(job.email).await;
                    drop(slot);
                }
                .instrument(span),
            );
            while deliveries.try_join_next().is_some() {}
        }
        while deliveries.join_next().await.is_some() {}
    }

    async fn deliver(&self, email: Email) {
        let kind = email.message.kind();
        let message = match self.build(&email) {
            Ok(message) => message,
            Err(e) => {
                tracing::error!(kind, error = %e, "email could not be built; not sent");
                return;
            }
        };
        let started = tokio::time::Instant::now();
        let mut delay = self.retry.first_delay;
        loop {
            match self.transport.send(message.clone()).await {
                Ok(_) => {
                    self.outcomes.record(true);
                    tracing::info!(kind, "email delivered");
                    return;
                }
                Err(e) => {
                    // A permanent refusal (a mailbox that does not exist, say) is about this
                    // message, not the mail server: it does not make delivery look degraded,
                    // or anyone could flip /health by registering a bouncing address.
                    if !e.is_permanent() {
                        self.outcomes.record(false);
                    }
                    let too_late = started.elapsed() + delay > self.retry.give_up_after;
                    if e.is_permanent() || too_late {
                        tracing::error!(kind, error = %e, "email delivery failed; giving up");
                        return;
                    }
                    tracing::warn!(kind, error = %e, retry_in = ?delay, "email delivery failed; will retry");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(self.retry.max_delay);
                }
            }
        }
    }

    fn build(&self, email: &Email) -> Result<lettre::Message, MailError> {
        let to: Mailbox =
            email.to.to_ascii().parse().map_err(|e| {
                MailError(format!("recipient not accepted by the SMTP library: {e}"))
            })?;
        let rendered = render(&email.message, &self.app_name);
        lettre::Message::builder()
            .message_id(None)
            .from(self.from.clone())
            .to(to)
            .subject(rendered.subject)
            .multipart(MultiPart::alternative_plain_html(
                rendered.text,
                rendered.html,
            ))
            .map_err(|e| MailError(format!("message could not be built: {e}")))
    }
}
