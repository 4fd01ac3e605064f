//! `Usage`: the tokens one model call consumed, by the five kinds the catalogue prices
//! (DESIGN.md §6): `input` (uncached prompt), `cache_write_5m`, `cache_write_1h`,
//! `cache_read` and `output`.
//!
//! Each provider reports caching differently, and this module is the only place that knows
//! how: `Usage::from_anthropic` and `Usage::from_openai` resolve a provider's `usage` object
//! once, and nothing downstream looks at provider JSON again.
//!
//! - Anthropic's `input_tokens`, `cache_creation_input_tokens` and `cache_read_input_tokens`
//!   are disjoint. `cache_creation.ephemeral_{5m,1h}_input_tokens` split the writes by TTL; a
//!   bare `cache_creation_input_tokens` (older responses) counts as 5-minute writes.
//! - OpenAI's `prompt_tokens` *includes* `prompt_tokens_details.cached_tokens` (and
//!   `cache_write_tokens`, where reported), so the uncached input is what remains.
//! - A streamed Anthropic `message_delta.usage` is cumulative: each field it carries
//!   *replaces* the value seen so far (`merge_anthropic_delta`), never adds to it.
//!
//! Missing, null, negative or non-integer counts read as 0. Pure: no worker, no clock.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Tokens consumed by one request, by the kinds the catalogue prices.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Usage {
    /// Uncached prompt tokens.
    pub input: u64,
    /// Prompt tokens written to a 5-minute cache.
    pub cache_write_5m: u64,
    /// Prompt tokens written to a 1-hour cache.
    pub cache_write_1h: u64,
    /// Prompt tokens read from the cache.
    pub cache_read: u64,
    /// Generated tokens (reasoning included).
    pub output: u64,
}

impl Usage {
    /// Usage from an Anthropic `usage` object (a non-streamed body's `usage`, or
    /// `message_start.message.usage`).
    pub fn from_anthropic(usage: &Value) -> Usage {
        let mut out = Usage::default();
        out.merge_anthropic_delta(usage);
        out
    }

    /// Usage from an OpenAI Chat Completions `usage` object.
    pub fn from_openai(usage: &Value) -> Usage {
        Usage::from_openai_counts(&counts(usage))
    }

    /// Applies a streamed Anthropic `message_delta.usage`: every count it carries replaces the
    /// one seen so far; counts it omits keep their value. Deltas are cumulative, so summing
    /// them double-counts (see tests/fixtures/README.md, "message_delta.usage is cumulative").
    pub fn merge_anthropic_delta(&mut self, usage: &Value) {
        self.merge_anthropic_counts(&counts(usage));
    }

    /// `merge_anthropic_delta` of counts already deserialized (the SSE meter's path).
    ///
    /// A bare `cache_creation_input_tokens` without the `cache_creation` split keeps the
    /// known 1-hour share (at most the new total) and counts the rest as 5-minute writes.
    pub fn merge_anthropic_counts(&mut self, counts: &AnthropicCounts) {
        if let Some(n) = counts.input_tokens {
            self.input = n;
        }
        if let Some(n) = counts.cache_read_input_tokens {
            self.cache_read = n;
        }
        if let Some(n) = counts.output_tokens {
            self.output = n;
        }
        match (counts.cache_creation, counts.cache_creation_input_tokens) {
            (Some(split), total) => {
                let five = split.ephemeral_5m_input_tokens.unwrap_or(0);
                let hour = split.ephemeral_1h_input_tokens.unwrap_or(0);
                // Never charge less than the total the provider reported.
                let unsplit = total.unwrap_or(0).saturating_sub(five.saturating_add(hour));
                self.cache_write_5m = five.saturating_add(unsplit);
                self.cache_write_1h = hour;
            }
            (None, Some(total)) => {
                self.cache_write_1h = self.cache_write_1h.min(total);
                self.cache_write_5m = total.saturating_sub(self.cache_write_1h);
            }
            (None, None) => {}
        }
    }

    /// `from_openai` of counts already deserialized (the SSE meter's path).
    pub fn from_openai_counts(counts: &OpenAiCounts) -> Usage {
        let details = counts.prompt_tokens_details.unwrap_or_default();
        let cached = details.cached_tokens.unwrap_or(0);
        let cache_write = details.cache_write_tokens.unwrap_or(0);
        Usage {
            input: counts.prompt_tokens.unwrap_or(0).saturating_sub(cached).saturating_sub(cache_write),
            cache_write_5m: cache_write,
            cache_write_1h: 0,
            cache_read: cached,
            output: counts.completion_tokens.unwrap_or(0),
        }
    }

    /// Prompt tokens of every kind: what prompt-length price tiers are measured on.
    pub fn prompt_tokens(&self) -> u64 {
        self.input
            .saturating_add(self.cache_write_5m)
            .saturating_add(self.cache_write_1h)
            .saturating_add(self.cache_read)
    }

    /// Every token of the request, prompt and output.
    pub fn total_tokens(&self) -> u64 {
        self.prompt_tokens().saturating_add(self.output)
    }
}

/// The counts of an Anthropic `usage` object as sent. Deserializing it never fails on a
/// strange count: absent, null, negative, fractional or non-numeric counts are `None`, and a
/// `cache_creation` that is not an object is `None`. Other fields are skipped unread.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct AnthropicCounts {
    #[serde(deserialize_with = "lenient_count")]
    pub input_tokens: Option<u64>,
    #[serde(deserialize_with = "lenient_count")]
    pub cache_creation_input_tokens: Option<u64>,
    #[serde(deserialize_with = "lenient_count")]
    pub cache_read_input_tokens: Option<u64>,
    #[serde(deserialize_with = "lenient_count")]
    pub output_tokens: Option<u64>,
    #[serde(deserialize_with = "lenient_object")]
    pub cache_creation: Option<CacheCreation>,
}

/// Anthropic's split of cache writes by TTL.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct CacheCreation {
    #[serde(deserialize_with = "lenient_count")]
    pub ephemeral_5m_input_tokens: Option<u64>,
    #[serde(deserialize_with = "lenient_count")]
    pub ephemeral_1h_input_tokens: Option<u64>,
}

/// The counts of an OpenAI `usage` object as sent, as leniently as `AnthropicCounts`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct OpenAiCounts {
    #[serde(deserialize_with = "lenient_count")]
    pub prompt_tokens: Option<u64>,
    #[serde(deserialize_with = "lenient_count")]
    pub completion_tokens: Option<u64>,
    #[serde(deserialize_with = "lenient_object")]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
}

/// The parts of OpenAI's `prompt_tokens` that were cache reads and writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct PromptTokensDetails {
    #[serde(deserialize_with = "lenient_count")]
    pub cached_tokens: Option<u64>,
    #[serde(deserialize_with = "lenient_count")]
    pub cache_write_tokens: Option<u64>,
}

/// The counts of a usage object; none when it is not an object (serde would otherwise read
/// an array positionally).
fn counts<'de, T: Deserialize<'de> + Default>(usage: &'de Value) -> T {
    if usage.is_object() {
        T::deserialize(usage).unwrap_or_default()
    } else {
        T::default()
    }
}

/// Implements the `Visitor` methods for values a lenient field reads as `None`, unread.
macro_rules! ignore_other_values {
    ($value:ty) => {
        fn visit_bool<E>(self, _: bool) -> Result<$value, E> {
            Ok(None)
        }
        fn visit_f64<E>(self, _: f64) -> Result<$value, E> {
            Ok(None)
        }
        fn visit_str<E>(self, _: &str) -> Result<$value, E> {
            Ok(None)
        }
        fn visit_unit<E>(self) -> Result<$value, E> {
            Ok(None)
        }
        fn visit_none<E>(self) -> Result<$value, E> {
            Ok(None)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<$value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(None)
        }
    };
}

/// A count if the value is a non-negative integer; `None` for anything else.
fn lenient_count<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    struct Count;
    impl<'de> Visitor<'de> for Count {
        type Value = Option<u64>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a token count")
        }
        fn visit_u64<E>(self, n: u64) -> Result<Option<u64>, E> {
            Ok(Some(n))
        }
        fn visit_i64<E>(self, n: i64) -> Result<Option<u64>, E> {
            Ok(u64::try_from(n).ok())
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<u64>, D::Error> {
            d.deserialize_any(Count)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<u64>, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(None)
        }
        ignore_other_values!(Option<u64>);
    }
    deserializer.deserialize_any(Count)
}

/// `T` if the value is an object; `None` for anything else.
fn lenient_object<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Option<T>, D::Error> {
    struct Object<T>(PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for Object<T> {
        type Value = Option<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Option<T>, A::Error> {
            T::deserialize(MapAccessDeserializer::new(map)).map(Some)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Option<T>, E> {
            Ok(None)
        }
        ignore_other_values!(Option<T>);
    }
    deserializer.deserialize_any(Object(PhantomData))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn usage(input: u64, w5: u64, w1h: u64, read: u64, output: u64) -> Usage {
        Usage { input, cache_write_5m: w5, cache_write_1h: w1h, cache_read: read, output }
    }

    fn fixture(path: &str) -> Value {
        let full = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&full).unwrap();
        let body: Value = serde_json::from_str(&text).unwrap();
        body["usage"].clone()
    }

    #[track_caller]
    fn anthropic_case(raw: Value, want: Usage) {
        assert_eq!(Usage::from_anthropic(&raw), want, "from_anthropic({raw})");
    }

    #[track_caller]
    fn openai_case(raw: Value, want: Usage) {
        assert_eq!(Usage::from_openai(&raw), want, "from_openai({raw})");
    }

    #[test]
    fn anthropic_bodies_give_the_fixture_readmes_usage() {
        // message.json: the cache was written with a 1h TTL.
        anthropic_case(fixture("anthropic/message.json"), usage(17, 0, 2056, 0, 100));
        // message-cache-read.json: older format, no `cache_creation` object.
        anthropic_case(fixture("anthropic/message-cache-read.json"), usage(11, 0, 0, 2055, 100));
        anthropic_case(fixture("anthropic/message-tool-use.json"), usage(701, 0, 0, 0, 93));
    }

    #[test]
    fn openai_bodies_give_the_fixture_readmes_usage() {
        openai_case(fixture("openai/completion.json"), usage(82, 0, 0, 0, 34));
        // prompt 1220 includes 1152 cached tokens.
        openai_case(fixture("openai/completion-cached.json"), usage(68, 0, 0, 1152, 100));
        openai_case(fixture("openai/completion-tool-calls.json"), usage(123, 0, 0, 0, 17));
    }

    #[test]
    fn a_bare_cache_creation_count_is_a_five_minute_write() {
        anthropic_case(json!({"input_tokens": 3, "cache_creation_input_tokens": 40}), usage(3, 40, 0, 0, 0));
    }

    #[test]
    fn the_cache_creation_split_decides_the_ttl_and_never_undercounts_the_total() {
        anthropic_case(
            json!({"cache_creation_input_tokens": 30, "cache_creation": {"ephemeral_5m_input_tokens": 10, "ephemeral_1h_input_tokens": 20}}),
            usage(0, 10, 20, 0, 0),
        );
        // A total larger than its split: the unsplit rest is charged as 5m writes.
        anthropic_case(
            json!({"cache_creation_input_tokens": 50, "cache_creation": {"ephemeral_1h_input_tokens": 20}}),
            usage(0, 30, 20, 0, 0),
        );
    }

    #[test]
    fn missing_null_negative_and_fractional_counts_read_as_zero() {
        anthropic_case(json!({}), Usage::default());
        anthropic_case(json!(null), Usage::default());
        anthropic_case(
            json!({"input_tokens": null, "output_tokens": -4, "cache_read_input_tokens": 1.5}),
            Usage::default(),
        );
        openai_case(json!({}), Usage::default());
        openai_case(json!({"prompt_tokens": "12", "completion_tokens": 2}), usage(0, 0, 0, 0, 2));
        openai_case(
            json!({"prompt_tokens": [1], "completion_tokens": {"n": 2}, "prompt_tokens_details": 5}),
            Usage::default(),
        );
        anthropic_case(json!({"input_tokens": 3, "cache_creation": [1, 2], "output_tokens": 1}), usage(3, 0, 0, 0, 1));
        anthropic_case(json!([1, 2]), Usage::default());
    }

    #[test]
    fn counts_deserialize_from_json_text_without_failing_on_strange_values() {
        let counts: AnthropicCounts = serde_json::from_str(
            r#"{"input_tokens": 5, "output_tokens": null, "cache_read_input_tokens": -1, "service_tier": "standard",
                "cache_creation": {"ephemeral_1h_input_tokens": 7, "other": [1, {"a": 2}]}, "server_tool_use": {"web_search_requests": 0}}"#,
        )
        .unwrap();
        let mut got = Usage::default();
        got.merge_anthropic_counts(&counts);
        assert_eq!(got, usage(5, 0, 7, 0, 0));
        let counts: OpenAiCounts =
            serde_json::from_str(r#"{"prompt_tokens": 9.5, "completion_tokens": 3, "prompt_tokens_details": null}"#)
                .unwrap();
        assert_eq!(Usage::from_openai_counts(&counts), usage(0, 0, 0, 0, 3));
    }

    #[test]
    fn openai_cached_and_cache_write_tokens_are_taken_out_of_the_prompt() {
        openai_case(
            json!({"prompt_tokens": 1000, "completion_tokens": 5, "prompt_tokens_details": {"cached_tokens": 600, "cache_write_tokens": 300}}),
            usage(100, 300, 0, 600, 5),
        );
        // Inconsistent details never make the input negative.
        openai_case(
            json!({"prompt_tokens": 10, "prompt_tokens_details": {"cached_tokens": 600}}),
            usage(0, 0, 0, 600, 0),
        );
    }

    #[track_caller]
    fn merge_case(start: Value, deltas: &[Value], want: Usage) {
        let mut got = Usage::from_anthropic(&start);
        for delta in deltas {
            got.merge_anthropic_delta(delta);
        }
        assert_eq!(got, want, "start {start}, deltas {deltas:?}");
    }

    #[test]
    fn message_delta_usage_replaces_fields_and_never_sums() {
        // stream-text.sse: the delta repeats input 770; summing would give 1540 and 46.
        merge_case(
            json!({"input_tokens": 770, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                   "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0}, "output_tokens": 8}),
            &[
                json!({"input_tokens": 770, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 38}),
            ],
            usage(770, 0, 0, 0, 38),
        );
        // stream-text-cache-read.sse: an older delta carries only output_tokens.
        merge_case(
            json!({"input_tokens": 11, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 1031, "output_tokens": 1}),
            &[json!({"output_tokens": 100})],
            usage(11, 0, 0, 1031, 100),
        );
        // stream-server-tool-use.sse: input grows from 727 to 1595; the last value wins.
        merge_case(
            json!({"input_tokens": 727, "output_tokens": 1}),
            &[json!({"input_tokens": 1595, "output_tokens": 143, "server_tool_use": {"web_search_requests": 0}})],
            usage(1595, 0, 0, 0, 143),
        );
        // Several deltas: the last one wins.
        merge_case(
            json!({"input_tokens": 5}),
            &[json!({"output_tokens": 10}), json!({"output_tokens": 12})],
            usage(5, 0, 0, 0, 12),
        );
    }

    #[test]
    fn a_bare_cache_total_in_a_delta_keeps_the_known_one_hour_share() {
        merge_case(
            json!({"cache_creation_input_tokens": 30, "cache_creation": {"ephemeral_5m_input_tokens": 10, "ephemeral_1h_input_tokens": 20}}),
            &[json!({"cache_creation_input_tokens": 30})],
            usage(0, 10, 20, 0, 0),
        );
        merge_case(
            json!({"cache_creation": {"ephemeral_1h_input_tokens": 20}}),
            &[json!({"cache_creation_input_tokens": 5})],
            usage(0, 0, 5, 0, 0),
        );
    }

    #[test]
    fn prompt_tokens_count_every_input_kind_and_saturate() {
        assert_eq!(usage(1, 2, 3, 4, 5).prompt_tokens(), 10);
        assert_eq!(usage(1, 2, 3, 4, 5).total_tokens(), 15);
        assert_eq!(usage(u64::MAX, 1, 1, 1, 1).total_tokens(), u64::MAX);
    }
}
