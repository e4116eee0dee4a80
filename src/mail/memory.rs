//! The in-memory mailer: keeps every message so tests can read the codes they were sent.

use std::sync::Mutex;

use async_trait::async_trait;

use super::{Email, MailError, Mailer};

/// The test double of [`Mailer`]: messages are kept in the order they were handed over.
#[derive(Default)]
pub struct MemoryMailer {
    sent: Mutex<Vec<Email>>,
}

impl MemoryMailer {
    /// Every message sent so far, oldest first.
    pub fn sent(&self) -> Vec<Email> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Messages sent to `to` (compared after trimming and lower-casing), oldest first.
    pub fn sent_to(&self, to: &str) -> Vec<Email> {
        let to = to.trim().to_lowercase();
        self.sent()
            .into_iter()
            .filter(|e| e.to.as_str() == to)
            .collect()
    }
}

#[async_trait]
impl Mailer for MemoryMailer {
    async fn deliver(&self, email: &Email) -> Result<(), MailError> {
        self.sent
            .lock()
            .map_err(|_| MailError::transient("the in-memory mailbox lock is poisoned"))?
            .push(email.clone());
        Ok(())
    }
}
