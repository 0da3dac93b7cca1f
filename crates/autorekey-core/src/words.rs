//! Counts said in English: `1 rule`, `2 rules`.
//!
//! A leaf module of its own, so the core ([`crate::verdict`]) and the shell
//! (the CLI's `report`, the commands) word counts the same way without the core depending on
//! the report, which depends on it.

/// `1 rule`, `2 rules`; `one` and `many` may carry a verb that agrees
/// (`"rule sends"`, `"rules send"`).
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn one_is_singular_and_any_other_number_plural() {
        assert_eq!(count(1, "rule sends", "rules send"), "1 rule sends");
        assert_eq!(count(0, "rule", "rules"), "0 rules");
        assert_eq!(count(14, "rule", "rules"), "14 rules");
    }
}
