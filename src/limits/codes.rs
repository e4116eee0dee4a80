//! Wrong tries at a one-time code, per client and from everyone.

/// How many wrong tries a code takes: per client, and in total from everyone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodeAttemptLimits {
    /// Wrong tries one client may make against one code; then the code is dead for that
    /// client only, so a stranger's guesses cannot spoil the owner's code.
    pub per_client: u32,
    /// Wrong tries from all clients together that burn the code for everyone.
    pub total: u32,
}

/// What a code check decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeVerdict {
    /// The right code: use it up.
    Accept,
    /// A wrong code; the client has `remaining` more tries at it.
    Reject { remaining: u32 },
    /// This client has no tries left at this code (it stays good for others).
    Exhausted,
    /// Enough wrong tries in total: the code is void for everyone.
    Burn,
}

/// Judges one try at a live code, given the wrong tries made so far by this client and by all.
/// A client out of tries is refused even with the right code, so it cannot keep guessing.
pub fn judge_code(
    matches: bool,
    client_failures: u32,
    total_failures: u32,
    limits: CodeAttemptLimits,
) -> CodeVerdict {
    if client_failures >= limits.per_client {
        return CodeVerdict::Exhausted;
    }
    if matches {
        return CodeVerdict::Accept;
    }
    let (client_failures, total_failures) = (client_failures + 1, total_failures + 1);
    if total_failures >= limits.total {
        CodeVerdict::Burn
    } else if client_failures >= limits.per_client {
        CodeVerdict::Exhausted
    } else {
        CodeVerdict::Reject {
            remaining: limits.per_client - client_failures,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: CodeAttemptLimits = CodeAttemptLimits {
        per_client: 5,
        total: 50,
    };

    #[test]
    fn the_right_code_is_accepted_until_the_client_runs_out_of_tries() {
        assert_eq!(judge_code(true, 0, 0, LIMITS), CodeVerdict::Accept);
        assert_eq!(judge_code(true, 4, 49, LIMITS), CodeVerdict::Accept);
        assert_eq!(judge_code(true, 5, 5, LIMITS), CodeVerdict::Exhausted);
    }

    #[test]
    fn a_clients_fifth_wrong_try_ends_its_tries_but_not_the_code() {
        assert_eq!(
            judge_code(false, 0, 0, LIMITS),
            CodeVerdict::Reject { remaining: 4 }
        );
        assert_eq!(judge_code(false, 4, 4, LIMITS), CodeVerdict::Exhausted);
        // Another client still has all its tries.
        assert_eq!(judge_code(true, 0, 5, LIMITS), CodeVerdict::Accept);
    }

    #[test]
    fn wrong_tries_from_everyone_together_burn_the_code() {
        assert_eq!(judge_code(false, 0, 49, LIMITS), CodeVerdict::Burn);
        assert_eq!(
            judge_code(false, 0, 48, LIMITS),
            CodeVerdict::Reject { remaining: 4 }
        );
    }
}
