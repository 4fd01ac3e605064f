-- The academy's schema (DESIGN.md §7). Times are integer milliseconds since the epoch (UTC),
-- days are 'YYYY-MM-DD' text, money is integer micro-USD. Later migrations only add.

-- A learner: limits and running totals in one row, so the reservation checks and takes in one
-- statement. `session_epoch` is bumped to sign out everywhere.
CREATE TABLE learners (
  id                  TEXT PRIMARY KEY,            -- lrn_…
  name                TEXT,
  email               TEXT,
  created_at          INTEGER NOT NULL,
  disabled            INTEGER NOT NULL DEFAULT 0,
  session_epoch       INTEGER NOT NULL DEFAULT 0,
  budget_micros       INTEGER NOT NULL,            -- total limit
  daily_budget_micros INTEGER NOT NULL,            -- per UTC day
  spent_micros        INTEGER NOT NULL DEFAULT 0,
  reserved_micros     INTEGER NOT NULL DEFAULT 0
);

-- Academy keys: only the SHA-256 of the key is stored, with a short prefix for display.
CREATE TABLE api_keys (
  id           TEXT PRIMARY KEY,                   -- key_…
  learner_id   TEXT NOT NULL REFERENCES learners(id),
  hash         TEXT NOT NULL UNIQUE,
  prefix       TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  last_used_at INTEGER,
  revoked_at   INTEGER
);
CREATE INDEX api_keys_by_learner ON api_keys (learner_id);

CREATE TABLE invites (
  code       TEXT PRIMARY KEY,
  uses_left  INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);

CREATE TABLE progress (
  learner_id   TEXT NOT NULL,
  lesson_id    TEXT NOT NULL,
  started_at   INTEGER NOT NULL,
  completed_at INTEGER,
  PRIMARY KEY (learner_id, lesson_id)
);

CREATE TABLE quiz_attempts (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  learner_id TEXT NOT NULL,
  lesson_id  TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  score      INTEGER NOT NULL,
  total      INTEGER NOT NULL,
  answers    TEXT NOT NULL                          -- JSON {"q1":"b",…}
);
CREATE INDEX quiz_attempts_by_learner ON quiz_attempts (learner_id, lesson_id);

CREATE TABLE lab_passes (
  learner_id TEXT NOT NULL,
  lesson_id  TEXT NOT NULL,
  passed_at  INTEGER NOT NULL,
  evidence   TEXT NOT NULL,                         -- JSON: what the checker saw
  PRIMARY KEY (learner_id, lesson_id)
);

-- In-flight requests: the upper bound taken from the budget before the upstream call.
CREATE TABLE reservations (
  id            TEXT PRIMARY KEY,                   -- the request id, req_…
  learner_id    TEXT NOT NULL,
  key_id        TEXT NOT NULL,
  day           TEXT NOT NULL,                      -- the day it was reserved on: settled there
  amount_micros INTEGER NOT NULL,
  created_at    INTEGER NOT NULL,
  expires_at    INTEGER NOT NULL
);
CREATE INDEX reservations_by_expiry ON reservations (expires_at);
CREATE INDEX reservations_by_learner ON reservations (learner_id);

CREATE TABLE learner_days (
  learner_id      TEXT NOT NULL,
  day             TEXT NOT NULL,
  spent_micros    INTEGER NOT NULL DEFAULT 0,
  reserved_micros INTEGER NOT NULL DEFAULT 0,
  requests        INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (learner_id, day)
);

CREATE TABLE academy_days (
  day             TEXT PRIMARY KEY,
  spent_micros    INTEGER NOT NULL DEFAULT 0,
  reserved_micros INTEGER NOT NULL DEFAULT 0,
  requests        INTEGER NOT NULL DEFAULT 0
);

-- One row per settled request, success or failure. Kept for the academy's books when a learner
-- deletes their account (re-keyed to a tombstone id).
CREATE TABLE usage (
  request_id            TEXT PRIMARY KEY,           -- req_<ULID>: time-ordered
  learner_id            TEXT NOT NULL,
  key_id                TEXT NOT NULL,
  created_at            INTEGER NOT NULL,
  day                   TEXT NOT NULL,
  endpoint              TEXT NOT NULL,              -- messages | chat_completions
  provider              TEXT NOT NULL,              -- anthropic | openai | demo
  model                 TEXT NOT NULL,              -- the academy alias
  upstream_model        TEXT,
  stream                INTEGER NOT NULL,
  status                INTEGER NOT NULL,           -- HTTP status sent to the client
  outcome               TEXT NOT NULL,              -- ok | upstream_error | timeout | cut | abandoned | …
  input_tokens          INTEGER NOT NULL DEFAULT 0,
  cache_write_5m_tokens INTEGER NOT NULL DEFAULT 0,
  cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0,
  cache_read_tokens     INTEGER NOT NULL DEFAULT 0,
  output_tokens         INTEGER NOT NULL DEFAULT 0,
  cost_micros           INTEGER NOT NULL DEFAULT 0,
  estimated             INTEGER NOT NULL DEFAULT 0,
  stop_reason           TEXT,
  latency_ms            INTEGER,
  ttfb_ms               INTEGER,
  aig_log_id            TEXT,
  lesson_id             TEXT,
  run_id                TEXT,
  transcript_key        TEXT
);
CREATE INDEX usage_by_learner ON usage (learner_id, request_id);
CREATE INDEX usage_by_day ON usage (day);
