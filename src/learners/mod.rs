//! Learners: enrollment, academy keys, sessions, progress, quiz attempts, the `/me` page, and
//! account export and deletion. Pure: `key`, `session`, `pages`. Adapters: `store` (D1),
//! `auth`, `routes` (wasm32).

pub mod key;
pub mod pages;
pub mod records;
pub mod session;
#[cfg(target_arch = "wasm32")]
pub mod auth;
#[cfg(target_arch = "wasm32")]
pub mod routes;
#[cfg(target_arch = "wasm32")]
pub mod store;

/// Budget figures shown to a learner, all in micro-USD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub limit: i64,
    pub daily_limit: i64,
    pub spent: i64,
    pub reserved: i64,
    /// Spent plus reserved today (UTC).
    pub today: i64,
}

impl Budget {
    /// What the learner can still spend now: the lower of total and daily remaining.
    pub fn remaining(&self) -> i64 {
        let total = self.limit.saturating_sub(self.spent).saturating_sub(self.reserved);
        let daily = self.daily_limit.saturating_sub(self.today);
        total.min(daily).max(0)
    }

    pub fn to_json(&self) -> serde_json::Value {
        use crate::gateway::pricing::MicroUsd;
        let usd = |m: i64| MicroUsd(m).to_usd_string();
        serde_json::json!({
            "limit_usd": usd(self.limit),
            "daily_limit_usd": usd(self.daily_limit),
            "spent_usd": usd(self.spent),
            "reserved_usd": usd(self.reserved),
            "spent_today_usd": usd(self.today),
            "remaining_usd": usd(self.remaining()),
        })
    }
}

/// Validated optional profile fields from enrollment.
pub fn clean_name(raw: Option<&str>) -> Result<Option<String>, &'static str> {
    let Some(s) = raw.map(str::trim).filter(|s| !s.is_empty()) else { return Ok(None) };
    if s.chars().count() > 100 || s.chars().any(char::is_control) {
        return Err("`name` must be at most 100 characters, without control characters.");
    }
    Ok(Some(s.to_string()))
}

pub fn clean_email(raw: Option<&str>) -> Result<Option<String>, &'static str> {
    let Some(s) = raw.map(str::trim).filter(|s| !s.is_empty()) else { return Ok(None) };
    let plausible = s.len() <= 254
        && s.split_once('@').is_some_and(|(a, d)| !a.is_empty() && d.contains('.') && !d.starts_with('.'))
        && !s.chars().any(|c| c.is_whitespace() || c.is_control());
    if !plausible {
        return Err("`email` must look like an email address (or be left out).");
    }
    Ok(Some(s.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_is_the_lower_of_total_and_daily() {
        let b = Budget { limit: 5_000_000, daily_limit: 1_000_000, spent: 4_500_000, reserved: 100_000, today: 200_000 };
        assert_eq!(b.remaining(), 400_000);
        let b = Budget { today: 950_000, ..b };
        assert_eq!(b.remaining(), 50_000);
        let b = Budget { spent: 9_000_000, ..b };
        assert_eq!(b.remaining(), 0);
    }

    #[test]
    fn profile_fields_are_checked() {
        assert_eq!(clean_name(Some("  Ada ")), Ok(Some("Ada".into())));
        assert!(clean_name(Some(&"x".repeat(101))).is_err());
        assert!(clean_name(Some("a\u{0}b")).is_err());
        assert_eq!(clean_email(Some("")), Ok(None));
        assert!(clean_email(Some("ada@example.com")).is_ok());
        for bad in ["ada", "@x.com", "a@b", "a b@c.com", "a@.com"] {
            assert!(clean_email(Some(bad)).is_err(), "{bad}");
        }
    }
}
