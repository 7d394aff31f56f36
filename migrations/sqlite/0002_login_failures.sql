-- Failed sign-ins, for throttling (auth::login). Operational data, pruned after a day;
-- the audit log keeps the permanent record.
CREATE TABLE login_failures (
    login TEXT NOT NULL,
    ip    TEXT NOT NULL,
    at    BIGINT NOT NULL
);
CREATE INDEX login_failures_login ON login_failures(login, at);
CREATE INDEX login_failures_at ON login_failures(at);
