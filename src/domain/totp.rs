//! The second factor: time-based one-time passwords (RFC 6238 over RFC 4226, with the
//! defaults every authenticator app uses: HMAC-SHA-1, 6 digits, 30-second steps), and the
//! recovery codes that stand in for the device once each.

use std::fmt;

use hmac::{Hmac, Mac};
use rand::RngExt;
use sha1::Sha1;

use super::Code;

/// Seconds in one time step.
pub const TOTP_STEP_SECONDS: i64 = 30;
/// Steps either side of now that are still accepted, for clocks that drift.
pub const TOTP_SKEW_STEPS: i64 = 1;
/// Bytes of a secret: 160 bits, the length RFC 4226 recommends for HMAC-SHA-1.
pub const TOTP_SECRET_BYTES: usize = 20;

/// The RFC 4226 value of `key` at `counter`, cut to `digits` decimal digits.
pub fn hotp(key: &[u8], counter: u64, digits: u32) -> u32 {
    // HMAC takes a key of any length; new_from_slice cannot fail for it.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(key) else {
        return 0;
    };
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let word = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    word % 10u32.pow(digits)
}

/// The time step a Unix time falls in.
pub fn totp_step(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(TOTP_STEP_SECONDS)
}

/// A user's TOTP secret. It prints only as `***` in debug output.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(Vec<u8>);

impl TotpSecret {
    /// A fresh secret from the CSPRNG.
    pub fn generate() -> Self {
        let bytes: [u8; TOTP_SECRET_BYTES] = rand::random();
        Self(bytes.to_vec())
    }

    /// A secret read back from storage (after decryption).
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// A secret as authenticator apps show it: RFC 4648 base32 (case, spaces and padding
    /// ignored); `None` if it is not base32.
    pub fn from_base32(text: &str) -> Option<Self> {
        let mut bytes = Vec::with_capacity(text.len() * 5 / 8);
        let mut buffer = 0u32;
        let mut bits = 0u8;
        for c in text.chars().filter(|c| !matches!(c, ' ' | '=')) {
            let value = match c.to_ascii_uppercase() {
                c @ 'A'..='Z' => c as u32 - 'A' as u32,
                c @ '2'..='7' => c as u32 - '2' as u32 + 26,
                _ => return None,
            };
            buffer = (buffer << 5) | value;
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                bytes.push((buffer >> bits) as u8);
                buffer &= (1 << bits) - 1;
            }
        }
        Some(Self(bytes))
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The secret as authenticator apps take it: RFC 4648 base32, without padding.
    pub fn base32(&self) -> String {
        base32(&self.0)
    }

    /// The 6-digit code of time step `step`.
    pub fn code_at(&self, step: i64) -> Code {
        let value = hotp(&self.0, step.max(0).unsigned_abs(), 6);
        Code::from_number(value)
    }

    /// The step `code` belongs to, if it is the code of a step within the skew of `now_step`
    /// and later than `last_used` (a code is good once: no replay). Every candidate step is
    /// compared, in constant time, whatever matches.
    pub fn accepted_step(&self, code: &Code, now_step: i64, last_used: Option<i64>) -> Option<i64> {
        let mut found = None;
        for step in (now_step - TOTP_SKEW_STEPS)..=(now_step + TOTP_SKEW_STEPS) {
            let fresh = last_used.is_none_or(|last| step > last);
            if self.code_at(step).matches(code) && fresh && found.is_none() {
                found = Some(step);
            }
        }
        found
    }
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(***)")
    }
}

/// RFC 4648 base32 without padding.
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer = 0u16;
    let mut bits = 0u8;
    for &byte in bytes {
        buffer = (buffer << 8) | u16::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[usize::from((buffer >> bits) & 31)]));
        }
    }
    if bits > 0 {
        out.push(char::from(
            ALPHABET[usize::from((buffer << (5 - bits)) & 31)],
        ));
    }
    out
}

/// Characters of a recovery code: Crockford's base32 (digits and lower-case letters without
/// i, l, o, u), so nothing reads as something else.
const RECOVERY_ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// Characters in a recovery code: 12 × 5 = 60 bits.
pub const RECOVERY_CODE_CHARS: usize = 12;
/// Recovery codes a user holds at once.
pub const RECOVERY_CODES: usize = 10;

/// A recovery code: 60 random bits as `xxxx-xxxx-xxxx`. Typed back, case, dashes and spaces
/// do not matter, and the look-alikes `i`, `l` (for 1) and `o` (for 0) are read as meant. It
/// prints only as `***` in debug output.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCode(String);

impl RecoveryCode {
    pub fn generate() -> Self {
        let mut rng = rand::rng();
        let code = (0..RECOVERY_CODE_CHARS)
            .map(|_| char::from(RECOVERY_ALPHABET[rng.random_range(0..32)]))
            .collect();
        Self(code)
    }

    /// A code as a client typed it.
    pub fn parse(raw: &str) -> Option<Self> {
        let mut code = String::with_capacity(RECOVERY_CODE_CHARS);
        for c in raw.chars().filter(|c| !matches!(c, '-' | ' ')) {
            let c = match c.to_ascii_lowercase() {
                'i' | 'l' => '1',
                'o' => '0',
                c => c,
            };
            if !c.is_ascii() || !RECOVERY_ALPHABET.contains(&(c as u8)) {
                return None;
            }
            code.push(c);
            if code.len() > RECOVERY_CODE_CHARS {
                return None;
            }
        }
        (code.len() == RECOVERY_CODE_CHARS).then_some(Self(code))
    }

    /// The canonical form, without dashes: what is hashed and stored.
    pub fn canonical(&self) -> &str {
        &self.0
    }

    /// As shown to the user: `xxxx-xxxx-xxxx`.
    pub fn display(&self) -> String {
        let (a, rest) = self.0.split_at(4);
        let (b, c) = rest.split_at(4);
        format!("{a}-{b}-{c}")
    }
}

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCode(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SHA-1 key of RFC 6238, appendix B.
    const RFC_KEY: &[u8] = b"12345678901234567890";

    #[test]
    fn the_rfc_6238_sha1_vectors() {
        let vectors = [
            (59, 94_287_082),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ];
        let secret = TotpSecret::from_bytes(RFC_KEY.to_vec());
        for (time, eight_digits) in vectors {
            let step = totp_step(time);
            assert_eq!(
                hotp(RFC_KEY, step.unsigned_abs(), 8),
                eight_digits,
                "t={time}"
            );
            let six = format!("{:06}", eight_digits % 1_000_000);
            assert_eq!(secret.code_at(step).expose(), six, "t={time}");
        }
    }

    #[test]
    fn the_rfc_4226_hotp_vectors() {
        let values = [
            755_224, 287_082, 359_152, 969_429, 338_314, 254_676, 287_922, 162_583, 399_871,
            520_489,
        ];
        for (counter, value) in values.into_iter().enumerate() {
            assert_eq!(hotp(RFC_KEY, counter as u64, 6), value);
        }
    }

    #[test]
    fn base32_is_rfc_4648() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"fooba"), "MZXW6YTB");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        let secret = TotpSecret::from_bytes(RFC_KEY.to_vec());
        assert_eq!(secret.base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(TotpSecret::generate().base32().len(), 32);
        let fresh = TotpSecret::generate();
        assert_eq!(
            TotpSecret::from_base32(&fresh.base32()),
            Some(fresh.clone())
        );
        assert_eq!(
            TotpSecret::from_base32(&fresh.base32().to_lowercase()),
            Some(fresh)
        );
        assert_eq!(
            TotpSecret::from_base32("MZXW6YTBOI======").map(|s| s.expose().to_vec()),
            Some(b"foobar".to_vec())
        );
        assert_eq!(TotpSecret::from_base32("MZXW1"), None);
    }

    #[test]
    fn a_step_either_side_is_accepted_and_no_step_twice() {
        let secret = TotpSecret::generate();
        let now = 1_000_000;
        for step in [now - 1, now, now + 1] {
            let code = secret.code_at(step);
            assert_eq!(secret.accepted_step(&code, now, None), Some(step));
            assert_eq!(
                secret.accepted_step(&code, now, Some(step)),
                None,
                "replayed"
            );
            assert_eq!(secret.accepted_step(&code, now, Some(step - 1)), Some(step));
        }
        for step in [now - 2, now + 2] {
            let code = secret.code_at(step);
            if [now - 1, now, now + 1]
                .iter()
                .all(|s| !secret.code_at(*s).matches(&code))
            {
                assert_eq!(secret.accepted_step(&code, now, None), None, "step {step}");
            }
        }
    }

    #[test]
    fn recovery_codes_carry_60_bits_and_read_back_however_typed() {
        let code = RecoveryCode::generate();
        assert_eq!(code.canonical().len(), RECOVERY_CODE_CHARS);
        let shown = code.display();
        assert_eq!(shown.len(), 14);
        assert_eq!(RecoveryCode::parse(&shown), Some(code.clone()));
        assert_eq!(
            RecoveryCode::parse(&shown.to_uppercase().replace('-', " ")),
            Some(code)
        );
        assert_eq!(
            RecoveryCode::parse("OIL0-abcd-efgh").map(|c| c.display()),
            Some("0110-abcd-efgh".into())
        );
        for bad in [
            "",
            "abcd-efgh-jkm",
            "abcd-efgh-jkmnp",
            "abcd-efgh-jkmu",
            "ábcd-efgh-jkmn",
        ] {
            assert_eq!(RecoveryCode::parse(bad), None, "{bad}");
        }
        let many: std::collections::HashSet<_> = (0..1000)
            .map(|_| RecoveryCode::generate().display())
            .collect();
        assert_eq!(many.len(), 1000);
    }
}
