//! The mail throttle's share per client.

/// One client's share of an address's hourly email budget: half, so no single client can use
/// it all up, but at least one.
pub fn per_client_mail_share(per_address: u32) -> u32 {
    (per_address / 2).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_client_gets_half_of_an_addresss_mail_budget_and_at_least_one() {
        assert_eq!(per_client_mail_share(5), 2);
        assert_eq!(per_client_mail_share(6), 3);
        assert_eq!(per_client_mail_share(1), 1);
    }
}
