-- Sign-in throttling (auth.rs, docs/security.md): attempts are reserved here before any
-- password is checked, one row per key — `p\n<login>\n<address>` (progressive delay),
-- `l\n<login>` and `i\n<address>` (fixed windows) — shared by every server process.
CREATE TABLE login_throttle (
    k             TEXT PRIMARY KEY,
    attempts      BIGINT NOT NULL,
    first_at      BIGINT NOT NULL,
    last_at       BIGINT NOT NULL,
    blocked_until BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX login_throttle_last ON login_throttle(last_at);

-- Addresses where a login id signed in (within 30 days): the per-login and per-address
-- limits do not hold the owner back there.
CREATE TABLE login_known (
    login TEXT NOT NULL,
    ip    TEXT NOT NULL,
    at    BIGINT NOT NULL,
    PRIMARY KEY (login, ip)
);
CREATE INDEX login_known_at ON login_known(at);

-- Refusals anyone can provoke, counted per address, action and minute (db::audit_refusal):
-- only the first few of each minute become audit rows, the rest a summary row.
CREATE TABLE audit_quota (
    ip         TEXT NOT NULL,
    action     TEXT NOT NULL,
    minute     BIGINT NOT NULL,
    org_id     TEXT,
    count      BIGINT NOT NULL,
    summarised INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (ip, action, minute)
);
CREATE INDEX audit_quota_open ON audit_quota(summarised, minute);

-- Replaced by login_throttle.
DROP TABLE login_failures;
