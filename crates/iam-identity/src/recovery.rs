//! Recovery codes: ten per enrolment, shown once, stored as SHA-256, each usable once.
//!
//! A code is 16 characters of Crockford-free base32 (`A`–`Z`, `2`–`7`; 80 bits) shown in
//! four groups (`ABCD-EFGH-IJKL-MNOP`); input is compared after removing spaces and dashes
//! and upper-casing, so a code typed in lower case still works. 80 bits make a salted slow
//! hash unnecessary.
use iam_core::Secret;

/// Codes per enrolment.
pub const CODES: usize = 10;
const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Ten new codes, for the user, with their stored forms.
pub fn generate() -> (Vec<Secret>, Vec<String>) {
    let mut shown = Vec::with_capacity(CODES);
    let mut stored = Vec::with_capacity(CODES);
    for _ in 0..CODES {
        let raw = crate::random::bytes::<16>();
        let plain: String = raw
            .iter()
            .map(|b| ALPHABET[(b & 31) as usize] as char)
            .collect();
        stored.push(crate::random::token_hash(&plain));
        let grouped = plain
            .as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("-");
        shown.push(Secret::new(grouped));
    }
    (shown, stored)
}

/// The stored form of a code as typed, or `None` when it cannot be one.
pub fn stored_form(input: &str) -> Option<String> {
    if input.len() > 64 {
        return None;
    }
    let plain: String = input
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (plain.len() == 16 && plain.bytes().all(|b| ALPHABET.contains(&b)))
        .then(|| crate::random::token_hash(&plain))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_codes_hash_to_their_stored_forms_in_any_case() {
        let (shown, stored) = generate();
        assert_eq!((shown.len(), stored.len()), (10, 10));
        for (s, h) in shown.iter().zip(&stored) {
            assert_eq!(s.secret().len(), 19);
            assert_eq!(stored_form(s.secret()).as_ref(), Some(h));
            assert_eq!(stored_form(&s.secret().to_lowercase()).as_ref(), Some(h));
        }
        let unique: std::collections::HashSet<_> = stored.iter().collect();
        assert_eq!(unique.len(), 10);
    }

    #[test]
    fn malformed_codes_have_no_stored_form() {
        for bad in [
            "",
            "ABCD",
            "ABCD-EFGH-IJKL-MNO1",
            &"A".repeat(100),
            "ÄBCD-EFGH-IJKL-MNOP",
        ] {
            assert_eq!(stored_form(bad), None, "{bad}");
        }
    }
}
