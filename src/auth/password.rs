//! bcrypt hashing and verification, run on the blocking pool so the async workers stay free.

use super::types::{MAX_PASSWORD_BYTES, Password};

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("bcrypt failed: {0}")]
    Bcrypt(#[from] bcrypt::BcryptError),
    #[error("the blocking task running bcrypt did not finish: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// Hashes and checks passwords at one bcrypt cost.
#[derive(Clone)]
pub struct Passwords {
    cost: u32,
    /// A real hash of a random password at the same cost: checking an unknown user's login
    /// against it takes as long as checking a real user's, so timing does not reveal accounts.
    dummy_hash: String,
}

impl Passwords {
    /// Builds the hasher; costs one bcrypt hash to make the dummy.
    pub async fn new(cost: u32) -> Result<Self, PasswordError> {
        let dummy = Password::attempt(super::random_hex::<32>());
        let dummy_hash = hash_blocking(dummy, cost).await?;
        Ok(Self { cost, dummy_hash })
    }

    pub async fn hash(&self, password: &Password) -> Result<String, PasswordError> {
        hash_blocking(password.clone(), self.cost).await
    }

    /// Checks `password` against `hash`, or against the dummy hash when there is no user,
    /// so both paths cost one bcrypt verification. Returns false for the dummy.
    pub async fn verify(
        &self,
        password: &Password,
        hash: Option<&str>,
    ) -> Result<bool, PasswordError> {
        let known = hash.is_some();
        let target = hash.unwrap_or(&self.dummy_hash).to_owned();
        // bcrypt would compare only the first 72 bytes, so a longer attempt could match a
        // password it is not; no stored password is that long, so it can only be wrong.
        let fits = password.expose().len() <= MAX_PASSWORD_BYTES;
        let password = password.clone();
        let matched = tokio::task::spawn_blocking(move || {
            // A malformed stored hash is a failed check, not a server error for the client.
            bcrypt::verify(password.expose(), &target).unwrap_or(false)
        })
        .await?;
        Ok(known && fits && matched)
    }
}

async fn hash_blocking(password: Password, cost: u32) -> Result<String, PasswordError> {
    Ok(tokio::task::spawn_blocking(move || bcrypt::hash(password.expose(), cost)).await??)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_nothing_else() {
        let p = Passwords::new(4).await.unwrap();
        let right = Password::attempt("correct horse".into());
        let hash = p.hash(&right).await.unwrap();
        assert!(p.verify(&right, Some(&hash)).await.unwrap());
        let wrong = Password::attempt("battery staple".into());
        assert!(!p.verify(&wrong, Some(&hash)).await.unwrap());
    }

    #[tokio::test]
    async fn an_unknown_user_never_verifies() {
        let p = Passwords::new(4).await.unwrap();
        let any = Password::attempt("whatever".into());
        assert!(!p.verify(&any, None).await.unwrap());
    }

    #[tokio::test]
    async fn an_attempt_longer_than_72_bytes_does_not_match_its_prefix() {
        let p = Passwords::new(4).await.unwrap();
        let stored = "a".repeat(72);
        let hash = p.hash(&Password::attempt(stored.clone())).await.unwrap();
        let longer = Password::attempt(format!("{stored}extra"));
        assert!(!p.verify(&longer, Some(&hash)).await.unwrap());
    }
}
