//! The model catalogue (DESIGN.md §9, "The catalogue"): every model alias a learner may name,
//! the provider and upstream id it forwards to, and its prices.
//!
//! Terms: an **alias** is the name learners send as `model` (`course-fast`, `claude-haiku-5-5`,
//! `demo`); the **upstream** id is what the provider receives. **Prices** are integer
//! micro-USD per million tokens for each token kind of `Usage` ($3.00/MTok = `3_000_000`).
//! A **tier** re-prices *every* token of a request whose prompt (input + cache writes + cache
//! reads) is above its `above_prompt_tokens` (Haiku 5.5 above 100K).
//!
//! The built-in catalogue is `catalogue.json`, compiled in; the `MODEL_CATALOGUE_JSON` var
//! replaces it through `Catalogue::from_json`, which validates it (prices non-negative, tiers
//! ascending and never cheaper, `max_output_tokens ≥ default_max_tokens > 0`) and adds the
//! `demo` model when it is absent. Prices are data with a `price_checked` date and a `source`,
//! never code. Pure: no worker, no clock.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// The compiled-in catalogue. Its prices were read on its `price_checked` dates
/// (see shared/PRICES.md); look again before publishing a change.
const BUILTIN_JSON: &str = include_str!("catalogue.json");

/// Tokens reserved for each document or other non-text content block whose cost the request
/// bytes don't show, unless a model says otherwise (DESIGN.md §6).
pub const DEFAULT_BLOCK_ALLOWANCE: u64 = 100_000;

/// The alias of the offline model, present in every catalogue.
pub const DEMO_ALIAS: &str = "demo";

/// Who serves a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Provider {
    #[serde(rename = "anthropic")]
    Anthropic,
    #[serde(rename = "openai")]
    OpenAi,
    /// The deterministic offline model, served in-process in both API shapes.
    #[serde(rename = "demo")]
    Demo,
}

impl Provider {
    /// The catalogue's spelling: `anthropic`, `openai`, `demo`.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Anthropic => "anthropic",
            Provider::OpenAi => "openai",
            Provider::Demo => "demo",
        }
    }

    /// The `owned_by` of `GET /v1/models`.
    pub fn owned_by(self) -> &'static str {
        match self {
            Provider::Anthropic => "anthropic",
            Provider::OpenAi => "openai",
            Provider::Demo => "ai-architect-academy",
        }
    }
}

/// Micro-USD per million tokens, for each token kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Prices {
    pub input: u64,
    pub cache_write_5m: u64,
    pub cache_write_1h: u64,
    pub cache_read: u64,
    pub output: u64,
}

impl Prices {
    /// The dearest rate any prompt token can be charged at: what a reservation prices its
    /// input bound at, not knowing which prompt tokens will be cached (DESIGN.md §6).
    pub fn dearest_input(&self) -> u64 {
        self.input.max(self.cache_write_5m).max(self.cache_write_1h).max(self.cache_read)
    }

    fn kinds(&self) -> [(&'static str, u64); 5] {
        [
            ("input", self.input),
            ("cache_write_5m", self.cache_write_5m),
            ("cache_write_1h", self.cache_write_1h),
            ("cache_read", self.cache_read),
            ("output", self.output),
        ]
    }
}

/// Prices for requests whose prompt is above `above_prompt_tokens`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tier {
    pub above_prompt_tokens: u64,
    pub prices: Prices,
}

/// One model the academy serves, as validated from the catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    /// The name learners send as `model`.
    pub alias: String,
    pub provider: Provider,
    /// The provider's model id, sent upstream in place of the alias.
    pub upstream: String,
    pub display_name: String,
    /// Base prices, for prompts up to the first tier.
    pub prices: Prices,
    /// Prompt-length tiers, ascending by `above_prompt_tokens`, never cheaper than the one below.
    pub tiers: Vec<Tier>,
    /// Output limit when the request names none.
    pub default_max_tokens: u64,
    /// The model's largest output; larger requests are clamped to it.
    pub max_output_tokens: u64,
    /// Reserved input tokens per document or other non-text content block.
    pub block_allowance: u64,
    /// When the prices were last read on the provider's page (`YYYY-MM-DD`).
    pub price_checked: String,
    /// Where the prices were read.
    pub source: String,
    /// Unix seconds, for `GET /v1/models`.
    pub created: u64,
}

impl Model {
    /// The prices every token of a request is charged at, given its prompt tokens (input,
    /// cache writes and cache reads): the highest tier the prompt is above, else the base.
    pub fn prices_for(&self, prompt_tokens: u64) -> &Prices {
        self.tiers
            .iter()
            .rev()
            .find(|tier| prompt_tokens > tier.above_prompt_tokens)
            .map_or(&self.prices, |tier| &tier.prices)
    }

    pub fn is_demo(&self) -> bool {
        self.provider == Provider::Demo
    }

    /// The offline model, added to a catalogue that lacks it.
    fn demo() -> Model {
        Model {
            alias: DEMO_ALIAS.to_owned(),
            provider: Provider::Demo,
            upstream: DEMO_ALIAS.to_owned(),
            display_name: "Academy demo model (offline)".to_owned(),
            prices: Prices::default(),
            tiers: Vec::new(),
            default_max_tokens: 1024,
            max_output_tokens: 16_384,
            block_allowance: DEFAULT_BLOCK_ALLOWANCE,
            price_checked: "2026-11-26".to_owned(),
            source: "built in: src/gateway/demo.rs".to_owned(),
            created: 0,
        }
    }
}

/// Why a catalogue was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogueError {
    #[error(
        "the model catalogue does not parse: {0}. It is a JSON array of models; prices are \
         integer micro-USD per million tokens (3000000 = $3.00/MTok)"
    )]
    Json(String),
    #[error("model `{alias}` in the catalogue: {message}")]
    Invalid { alias: String, message: String },
    #[error("the catalogue lists the alias `{0}` more than once")]
    DuplicateAlias(String),
}

/// The models the academy serves, in catalogue order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalogue {
    models: Vec<Model>,
}

impl Catalogue {
    /// The compiled-in catalogue, parsed once. A unit test proves it valid; should it ever
    /// not be, the academy serves the demo model alone rather than crash.
    pub fn builtin() -> &'static Catalogue {
        static BUILTIN: OnceLock<Catalogue> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            Catalogue::from_json(BUILTIN_JSON).unwrap_or_else(|_| Catalogue { models: vec![Model::demo()] })
        })
    }

    /// Parses and validates a catalogue (`MODEL_CATALOGUE_JSON`): a JSON array of models.
    pub fn from_json(json: &str) -> Result<Catalogue, CatalogueError> {
        let raw: Vec<RawModel> = serde_json::from_str(json).map_err(|e| CatalogueError::Json(e.to_string()))?;
        let mut models: Vec<Model> = Vec::with_capacity(raw.len().saturating_add(1));
        for entry in raw {
            let model = entry.validate()?;
            if models.iter().any(|m| m.alias == model.alias) {
                return Err(CatalogueError::DuplicateAlias(model.alias));
            }
            models.push(model);
        }
        if !models.iter().any(|m| m.alias == DEMO_ALIAS) {
            models.insert(0, Model::demo());
        }
        Ok(Catalogue { models })
    }

    /// The model an alias names. Aliases are case-sensitive, as providers' ids are.
    pub fn get(&self, alias: &str) -> Option<&Model> {
        self.models.iter().find(|m| m.alias == alias)
    }

    /// Every alias, sorted: for error messages that list what is allowed.
    pub fn aliases(&self) -> Vec<&str> {
        let mut aliases: Vec<&str> = self.models.iter().map(|m| m.alias.as_str()).collect();
        aliases.sort_unstable();
        aliases
    }

    /// Every model in catalogue order (stable: `GET /v1/models` lists them this way).
    pub fn iter(&self) -> impl Iterator<Item = &Model> + '_ {
        self.models.iter()
    }

    pub fn len(&self) -> usize {
        self.models.len()
    }

    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }
}

/// A catalogue entry as written. Integers are signed so a negative price is refused with a
/// clear message rather than a type error; unknown fields are refused to catch typos.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    alias: String,
    provider: Provider,
    upstream: String,
    display_name: String,
    prices: RawPrices,
    #[serde(default)]
    tiers: Vec<RawTier>,
    default_max_tokens: i64,
    max_output_tokens: i64,
    #[serde(default)]
    block_allowance: Option<i64>,
    price_checked: String,
    source: String,
    #[serde(default)]
    created: u64,
    /// Free text for people (confidence of a price, a pinned id); ignored.
    #[serde(default, rename = "notes")]
    _notes: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrices {
    input: i64,
    cache_write_5m: i64,
    cache_write_1h: i64,
    cache_read: i64,
    output: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTier {
    above_prompt_tokens: i64,
    prices: RawPrices,
}

impl RawPrices {
    fn validate(&self, what: &str) -> Result<Prices, String> {
        let non_negative = |kind: &str, value: i64| {
            u64::try_from(value).map_err(|_| format!("{what} `{kind}` must not be negative; got {value}"))
        };
        Ok(Prices {
            input: non_negative("input", self.input)?,
            cache_write_5m: non_negative("cache_write_5m", self.cache_write_5m)?,
            cache_write_1h: non_negative("cache_write_1h", self.cache_write_1h)?,
            cache_read: non_negative("cache_read", self.cache_read)?,
            output: non_negative("output", self.output)?,
        })
    }
}

impl RawModel {
    fn validate(self) -> Result<Model, CatalogueError> {
        let alias = self.alias.clone();
        self.checked().map_err(|message| CatalogueError::Invalid { alias, message })
    }

    fn checked(self) -> Result<Model, String> {
        let alias_ok = !self.alias.is_empty()
            && self.alias.len() <= 64
            && self.alias.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
        if !alias_ok {
            return Err("an alias is 1 to 64 letters, digits, `-`, `_`, `.` or `:`".to_owned());
        }
        if self.upstream.trim().is_empty() {
            return Err("`upstream` must name the provider's model id".to_owned());
        }
        if self.display_name.trim().is_empty() {
            return Err("`display_name` must not be empty".to_owned());
        }
        if !is_date(&self.price_checked) {
            return Err(format!("`price_checked` must be a date like 2026-11-26; got {:?}", self.price_checked));
        }
        if self.source.trim().is_empty() {
            return Err("`source` must say where the prices were read".to_owned());
        }
        let prices = self.prices.validate("price")?;
        let mut tiers: Vec<Tier> = Vec::with_capacity(self.tiers.len());
        for raw in &self.tiers {
            let above = u64::try_from(raw.above_prompt_tokens).ok().filter(|n| *n > 0).ok_or_else(|| {
                format!("a tier's `above_prompt_tokens` must be positive; got {}", raw.above_prompt_tokens)
            })?;
            let (below_above, below) = tiers.last().map_or((0, &prices), |t| (t.above_prompt_tokens, &t.prices));
            if above <= below_above {
                return Err("tiers must be listed by ascending `above_prompt_tokens`".to_owned());
            }
            let tier_prices = raw.prices.validate("tier price")?;
            // A longer prompt never costs less per token: this is what keeps a reservation
            // priced in its bound's tier above any cost the request can settle at.
            for ((kind, lower), (_, higher)) in below.kinds().into_iter().zip(tier_prices.kinds()) {
                if higher < lower {
                    return Err(format!(
                        "the tier above {above} prompt tokens must not price `{kind}` below the tier under it"
                    ));
                }
            }
            tiers.push(Tier { above_prompt_tokens: above, prices: tier_prices });
        }
        let default_max_tokens = positive(self.default_max_tokens).ok_or_else(|| {
            format!("`default_max_tokens` must be a positive integer; got {}", self.default_max_tokens)
        })?;
        let max_output_tokens =
            positive(self.max_output_tokens).filter(|max| *max >= default_max_tokens).ok_or_else(|| {
                format!(
                    "`max_output_tokens` must be at least `default_max_tokens` ({default_max_tokens}); got {}",
                    self.max_output_tokens
                )
            })?;
        let block_allowance = match self.block_allowance {
            None => DEFAULT_BLOCK_ALLOWANCE,
            Some(n) => positive(n).ok_or_else(|| format!("`block_allowance` must be a positive integer; got {n}"))?,
        };
        if self.alias == DEMO_ALIAS && self.provider != Provider::Demo {
            return Err("the `demo` alias is reserved for the offline model (provider `demo`)".to_owned());
        }
        let free = prices == Prices::default() && tiers.is_empty();
        if self.provider == Provider::Demo && !free {
            return Err("a `demo` model is served in-process and costs nothing: its prices must be 0".to_owned());
        }
        Ok(Model {
            alias: self.alias,
            provider: self.provider,
            upstream: self.upstream,
            display_name: self.display_name,
            prices,
            tiers,
            default_max_tokens,
            max_output_tokens,
            block_allowance,
            price_checked: self.price_checked,
            source: self.source,
            created: self.created,
        })
    }
}

fn positive(n: i64) -> Option<u64> {
    u64::try_from(n).ok().filter(|n| *n > 0)
}

/// `YYYY-MM-DD` in shape (not a calendar check).
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10 && b.iter().enumerate().all(|(i, c)| if i == 4 || i == 7 { *c == b'-' } else { c.is_ascii_digit() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// A valid catalogue entry to mutate.
    fn entry() -> Value {
        json!({
            "alias": "m", "provider": "anthropic", "upstream": "claude-x", "display_name": "X",
            "prices": {"input": 1, "cache_write_5m": 2, "cache_write_1h": 3, "cache_read": 0, "output": 5},
            "default_max_tokens": 10, "max_output_tokens": 20,
            "price_checked": "2026-11-26", "source": "https://example.com/pricing"
        })
    }

    fn with(mut v: Value, key: &str, value: Value) -> Value {
        v[key] = value;
        v
    }

    #[track_caller]
    fn refused(entries: Value, needle: &str) {
        let err = Catalogue::from_json(&entries.to_string()).unwrap_err();
        assert!(err.to_string().contains(needle), "{err} should mention {needle:?}");
    }

    #[test]
    fn the_builtin_catalogue_parses_and_validates() {
        let parsed = Catalogue::from_json(BUILTIN_JSON).unwrap();
        assert_eq!(Catalogue::builtin(), &parsed);
        for alias in ["demo", "course-fast", "course-strong", "course-openai", "claude-haiku-5-5", "gpt-5-mini"] {
            assert!(parsed.get(alias).is_some(), "{alias} missing");
        }
        assert_eq!(parsed.iter().next().unwrap().alias, "demo");
        assert!(parsed.len() >= 12);
    }

    #[test]
    fn course_aliases_point_at_the_current_models() {
        let c = Catalogue::builtin();
        assert_eq!(c.get("course-fast").unwrap().upstream, "claude-haiku-5-5");
        assert_eq!(c.get("course-strong").unwrap().upstream, "claude-sonnet-5-5");
        assert_eq!(c.get("course-openai").unwrap().upstream, "gpt-5-mini");
        assert_eq!(c.get("course-openai").unwrap().provider, Provider::OpenAi);
        assert_eq!(c.get("course-fast").unwrap().prices, c.get("claude-haiku-5-5").unwrap().prices);
    }

    #[test]
    fn the_demo_model_is_free_and_served_in_process() {
        let demo = Catalogue::builtin().get("demo").unwrap();
        assert!(demo.is_demo());
        assert_eq!(demo.prices, Prices::default());
        assert_eq!(demo.prices.dearest_input(), 0);
    }

    #[test]
    fn haiku_5_5_is_priced_by_prompt_length_above_100k() {
        let haiku = Catalogue::builtin().get("claude-haiku-5-5").unwrap();
        assert_eq!(haiku.prices_for(100_000).input, 100_000);
        assert_eq!(haiku.prices_for(100_001).input, 500_000);
        assert_eq!(haiku.prices_for(100_001).output, 2_500_000);
    }

    #[test]
    fn aliases_are_sorted_and_iteration_keeps_catalogue_order() {
        let c = Catalogue::from_json(&json!([with(entry(), "alias", json!("zeta")), entry()]).to_string()).unwrap();
        assert_eq!(c.aliases(), vec!["demo", "m", "zeta"]);
        let order: Vec<&str> = c.iter().map(|m| m.alias.as_str()).collect();
        assert_eq!(order, vec!["demo", "zeta", "m"]);
    }

    #[test]
    fn an_override_without_demo_gets_demo_and_defaults() {
        let c = Catalogue::from_json(&json!([entry()]).to_string()).unwrap();
        assert!(c.get("demo").unwrap().is_demo());
        let m = c.get("m").unwrap();
        assert_eq!(m.block_allowance, DEFAULT_BLOCK_ALLOWANCE);
        assert_eq!(m.created, 0);
        assert!(Catalogue::from_json("[]").unwrap().get("demo").is_some());
    }

    #[test]
    fn invalid_catalogues_are_refused_with_a_reason() {
        refused(json!({"m": entry()}), "JSON array of models");
        refused(
            json!([with(
                entry(),
                "prices",
                json!({"input": -1, "cache_write_5m": 0, "cache_write_1h": 0, "cache_read": 0, "output": 0})
            )]),
            "`input` must not be negative",
        );
        refused(
            json!([with(
                entry(),
                "prices",
                json!({"input": 0.5, "cache_write_5m": 0, "cache_write_1h": 0, "cache_read": 0, "output": 0})
            )]),
            "integer micro-USD",
        );
        refused(
            json!([with(entry(), "default_max_tokens", json!(0))]),
            "`default_max_tokens` must be a positive integer",
        );
        refused(json!([with(entry(), "max_output_tokens", json!(5))]), "at least `default_max_tokens` (10)");
        refused(json!([with(entry(), "block_allowance", json!(0))]), "`block_allowance`");
        refused(json!([with(entry(), "price_checked", json!("yesterday"))]), "`price_checked`");
        refused(json!([with(entry(), "source", json!(""))]), "`source`");
        refused(json!([with(entry(), "upstream", json!(" "))]), "`upstream`");
        refused(json!([with(entry(), "alias", json!("has space"))]), "an alias is");
        refused(json!([with(entry(), "max_tokens", json!(5))]), "unknown field `max_tokens`");
        refused(json!([entry(), entry()]), "`m` more than once");
        refused(json!([with(entry(), "provider", json!("mistral"))]), "unknown variant");
        refused(json!([with(entry(), "alias", json!("demo"))]), "reserved for the offline model");
        refused(json!([with(with(entry(), "alias", json!("demo")), "provider", json!("demo"))]), "prices must be 0");
    }

    #[test]
    fn tiers_must_ascend_and_never_get_cheaper() {
        let p = |input: i64| json!({"input": input, "cache_write_5m": 2, "cache_write_1h": 3, "cache_read": 0, "output": 5});
        let tiers = |t: Value| with(entry(), "tiers", t);
        refused(json!([tiers(json!([{"above_prompt_tokens": 0, "prices": p(2)}]))]), "must be positive");
        refused(json!([tiers(json!([{"above_prompt_tokens": 10, "prices": p(0)}]))]), "must not price `input` below");
        refused(
            json!([tiers(
                json!([{"above_prompt_tokens": 10, "prices": p(2)}, {"above_prompt_tokens": 10, "prices": p(3)}])
            )]),
            "ascending",
        );
        let ok = Catalogue::from_json(
            &json!([tiers(
                json!([{"above_prompt_tokens": 10, "prices": p(2)}, {"above_prompt_tokens": 20, "prices": p(3)}])
            )])
            .to_string(),
        )
        .unwrap();
        let m = ok.get("m").unwrap();
        assert_eq!(
            [m.prices_for(10).input, m.prices_for(11).input, m.prices_for(20).input, m.prices_for(21).input],
            [1, 2, 2, 3]
        );
    }

    #[test]
    fn every_builtin_model_has_a_source_and_a_sane_output_limit() {
        for m in Catalogue::builtin().iter() {
            assert!(m.max_output_tokens >= m.default_max_tokens, "{}", m.alias);
            assert!(!m.source.is_empty(), "{}", m.alias);
            assert!(m.is_demo() || m.prices.output > 0, "{} has no output price", m.alias);
            assert!(m.is_demo() || m.created > 0, "{} has no created time", m.alias);
        }
    }
}
