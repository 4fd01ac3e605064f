//! Money and the exact cost of a model call (DESIGN.md §6, "Money is integers").
//!
//! `MicroUsd` is an amount in micro-USD (1 = $0.000001) as an `i64`, with checked arithmetic
//! and a formatter that works from integers. `cost` prices a `Usage` against a catalogue
//! `Model`: `ceil(Σ_kind tokens_kind × price_kind / 1_000_000)`, summed in `u128` and
//! **rounded up once**, at the end — never per kind, never in floats — with every token at
//! the prices of the tier the request's prompt falls in.
//!
//! A product of tokens and a micro-USD-per-million-tokens price is in pico-USD (1e-12 USD);
//! `MicroUsd::from_picos_ceil` is the one place that divides. Pure: no worker, no clock.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::catalogue::{Model, Prices};
use super::usage::Usage;

/// Pico-USD per micro-USD: a token count times a per-million price divided by this.
const PICOS_PER_MICRO: u128 = 1_000_000;

/// An amount of money in micro-USD (1 = $0.000001).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MicroUsd(pub i64);

impl MicroUsd {
    pub const ZERO: MicroUsd = MicroUsd(0);
    pub const MAX: MicroUsd = MicroUsd(i64::MAX);

    /// Rounds a pico-USD amount (Σ tokens × micro-USD per million tokens) up to whole
    /// micro-USD, saturating at `MicroUsd::MAX`.
    pub fn from_picos_ceil(picos: u128) -> MicroUsd {
        let micros = picos.div_ceil(PICOS_PER_MICRO);
        MicroUsd(i64::try_from(micros).unwrap_or(i64::MAX))
    }

    pub fn checked_add(self, other: MicroUsd) -> Option<MicroUsd> {
        self.0.checked_add(other.0).map(MicroUsd)
    }

    pub fn checked_sub(self, other: MicroUsd) -> Option<MicroUsd> {
        self.0.checked_sub(other.0).map(MicroUsd)
    }

    pub fn checked_mul(self, factor: i64) -> Option<MicroUsd> {
        self.0.checked_mul(factor).map(MicroUsd)
    }

    pub fn saturating_add(self, other: MicroUsd) -> MicroUsd {
        MicroUsd(self.0.saturating_add(other.0))
    }

    pub fn saturating_sub(self, other: MicroUsd) -> MicroUsd {
        MicroUsd(self.0.saturating_sub(other.0))
    }

    pub fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// The amount in dollars with all six decimals, from integers: `1234567` → `"1.234567"`,
    /// `-5` → `"-0.000005"`.
    pub fn to_usd_string(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        format!("{sign}{}.{:06}", abs / 1_000_000, abs % 1_000_000)
    }

    /// Parses a dollar amount as people write it in configuration (`"5"`, `"0.25"`,
    /// `"-1.5"`, at most six decimals) exactly, without floats.
    pub fn parse_usd(text: &str) -> Result<MicroUsd, ParseUsdError> {
        let err = || ParseUsdError(text.chars().take(40).collect());
        let trimmed = text.trim();
        let (negative, digits) = match trimmed.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, trimmed.strip_prefix('$').unwrap_or(trimmed)),
        };
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) || fraction.len() > 6 {
            return Err(err());
        }
        let whole: i64 = whole.parse().map_err(|_| err())?;
        let fraction: i64 = if fraction.is_empty() {
            0
        } else {
            let scale = 10_i64.pow(6_u32.saturating_sub(fraction.len() as u32));
            fraction.parse::<i64>().map_err(|_| err())?.checked_mul(scale).ok_or_else(err)?
        };
        let micros = whole.checked_mul(1_000_000).and_then(|w| w.checked_add(fraction)).ok_or_else(err)?;
        Ok(MicroUsd(if negative { -micros } else { micros }))
    }
}

impl fmt::Display for MicroUsd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_usd_string())
    }
}

/// A dollar amount that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a dollar amount like 5 or 0.25 (at most six decimals)")]
pub struct ParseUsdError(String);

/// What a request with this usage costs on this model: every token at the prices of the tier
/// its prompt tokens fall in, rounded up once.
pub fn cost(model: &Model, usage: &Usage) -> MicroUsd {
    price(model.prices_for(usage.prompt_tokens()), usage)
}

/// What this usage costs at these prices (the tier already chosen), rounded up once.
pub fn price(prices: &Prices, usage: &Usage) -> MicroUsd {
    let picos = [
        (usage.input, prices.input),
        (usage.cache_write_5m, prices.cache_write_5m),
        (usage.cache_write_1h, prices.cache_write_1h),
        (usage.cache_read, prices.cache_read),
        (usage.output, prices.output),
    ]
    .iter()
    // u64 × u64 fits u128; five of them cannot overflow it either, but saturate anyway.
    .fold(0_u128, |sum, (tokens, rate)| sum.saturating_add(u128::from(*tokens) * u128::from(*rate)));
    MicroUsd::from_picos_ceil(picos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::catalogue::{Catalogue, Provider, Tier};

    fn model(prices: Prices, tiers: Vec<Tier>) -> Model {
        Model {
            alias: "m".into(),
            provider: Provider::Anthropic,
            upstream: "m".into(),
            display_name: "M".into(),
            prices,
            tiers,
            default_max_tokens: 1,
            max_output_tokens: 1,
            block_allowance: 1,
            price_checked: "2026-11-26".into(),
            source: "test".into(),
            created: 0,
        }
    }

    fn prices(input: u64, w5: u64, w1h: u64, read: u64, output: u64) -> Prices {
        Prices { input, cache_write_5m: w5, cache_write_1h: w1h, cache_read: read, output }
    }

    fn usage(input: u64, w5: u64, w1h: u64, read: u64, output: u64) -> Usage {
        Usage { input, cache_write_5m: w5, cache_write_1h: w1h, cache_read: read, output }
    }

    #[track_caller]
    fn case(model: &Model, usage: Usage, want_micros: i64) {
        assert_eq!(cost(model, &usage), MicroUsd(want_micros), "{usage:?}");
    }

    #[test]
    fn cost_is_rounded_up_once_not_per_kind() {
        // $3/MTok: one input token costs exactly $0.000003.
        let sonnet = model(prices(3_000_000, 3_750_000, 6_000_000, 300_000, 15_000_000), vec![]);
        case(&sonnet, usage(1, 0, 0, 0, 0), 3);
        // 1 cache read = 0.3 micros; 1 more = 0.6; rounding each kind up would give 1 + 1.
        let cheap = model(prices(300_000, 0, 0, 300_000, 0), vec![]);
        case(&cheap, usage(1, 0, 0, 1, 0), 1);
        case(&cheap, usage(2, 0, 0, 2, 0), 2);
        case(&cheap, usage(0, 0, 0, 0, 0), 0);
        // Anything above a whole micro-USD rounds up.
        case(&model(prices(1, 0, 0, 0, 0), vec![]), usage(1, 0, 0, 0, 0), 1);
        case(&model(prices(1, 0, 0, 0, 0), vec![]), usage(1_000_000, 0, 0, 0, 0), 1);
        case(&model(prices(1, 0, 0, 0, 0), vec![]), usage(1_000_001, 0, 0, 0, 0), 2);
    }

    #[test]
    fn cache_reads_are_priced_at_the_cache_rate() {
        let haiku45 = Catalogue::builtin().get("claude-haiku-4-5").unwrap();
        // 1M cache reads at $0.10/MTok.
        case(haiku45, usage(0, 0, 0, 1_000_000, 0), 100_000);
        // message.json: 17 input, 2056 1h writes, 100 output on Haiku 4.5.
        // (17 × $1 + 2056 × $2 + 100 × $5) per MTok = $0.004629.
        case(haiku45, usage(17, 0, 2056, 0, 100), 4629);
        case(haiku45, usage(0, 2056, 0, 0, 0), 2570);
    }

    #[test]
    fn every_token_is_priced_at_the_tier_the_prompt_falls_in() {
        let haiku55 = Catalogue::builtin().get("claude-haiku-5-5").unwrap();
        // 100K prompt: base tier. 100_000 × 0.10 + 1000 × 0.50 = 10_000 + 500 micro-USD.
        case(haiku55, usage(100_000, 0, 0, 0, 1000), 10_500);
        // One token more, with the prompt counted across kinds: everything at the high tier.
        case(haiku55, usage(50_000, 0, 0, 50_001, 1000), 25_000 + 2_501 + 2_500);
    }

    #[test]
    fn huge_usage_saturates_instead_of_overflowing() {
        let m = model(prices(u64::MAX, u64::MAX, u64::MAX, u64::MAX, u64::MAX), vec![]);
        case(&m, usage(u64::MAX, u64::MAX, u64::MAX, u64::MAX, u64::MAX), i64::MAX);
        assert_eq!(MicroUsd::from_picos_ceil(u128::MAX), MicroUsd::MAX);
    }

    #[test]
    fn the_demo_model_costs_nothing() {
        case(Catalogue::builtin().get("demo").unwrap(), usage(1_000_000, 5, 5, 5, 1_000_000), 0);
    }

    #[track_caller]
    fn usd_case(micros: i64, want: &str) {
        assert_eq!(MicroUsd(micros).to_usd_string(), want);
        assert_eq!(MicroUsd(micros).to_string(), want);
    }

    #[test]
    fn usd_strings_are_formatted_from_integers() {
        usd_case(1_234_567, "1.234567");
        usd_case(0, "0.000000");
        usd_case(5, "0.000005");
        usd_case(-5, "-0.000005");
        usd_case(-1_500_000, "-1.500000");
        usd_case(i64::MAX, "9223372036854.775807");
        usd_case(i64::MIN, "-9223372036854.775808");
    }

    #[track_caller]
    fn parse_case(text: &str, want: Option<i64>) {
        assert_eq!(MicroUsd::parse_usd(text).ok(), want.map(MicroUsd), "{text:?}");
    }

    #[test]
    fn dollar_amounts_parse_exactly_or_not_at_all() {
        parse_case("5", Some(5_000_000));
        parse_case("0.25", Some(250_000));
        parse_case(" 1.000001 ", Some(1_000_001));
        parse_case("$2.5", Some(2_500_000));
        parse_case("-1.5", Some(-1_500_000));
        parse_case("0.0000001", None);
        parse_case("1e3", None);
        parse_case("", None);
        parse_case(".5", None);
        parse_case("1.2.3", None);
        parse_case("99999999999999999", None);
    }

    #[test]
    fn checked_arithmetic_reports_overflow() {
        assert_eq!(MicroUsd(1).checked_add(MicroUsd(2)), Some(MicroUsd(3)));
        assert_eq!(MicroUsd::MAX.checked_add(MicroUsd(1)), None);
        assert_eq!(MicroUsd(i64::MIN).checked_sub(MicroUsd(1)), None);
        assert_eq!(MicroUsd::MAX.checked_mul(2), None);
        assert_eq!(MicroUsd::MAX.saturating_add(MicroUsd(1)), MicroUsd::MAX);
        assert!(MicroUsd(-1).is_negative());
    }
}
