-- Two-factor login (TOTP, RFC 6238) for web users: the shared secret of each user's
-- authenticator app, their single-use recovery codes (only hashes), and the logins that have
-- passed the password and wait for the second factor (api/services/two_factor.py).

-- One authenticator per user. confirmed_at NULL: being set up (the QR code was shown, no code
-- from the app has confirmed it yet), and it does not count at login.
CREATE TABLE user_totp (
    actor_id     integer PRIMARY KEY REFERENCES users (actor_id) ON DELETE CASCADE,
    secret       text NOT NULL CONSTRAINT user_totp_secret_base32 CHECK (secret ~ '^[A-Z2-7]{32}$'),
    confirmed_at timestamptz,
    -- the time step (unix time / 30) of the last code accepted: each code is good once, and
    -- no older code after it (a code seen over a shoulder or in a log cannot be replayed)
    last_step    bigint NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- Ten codes, each logging in once when the phone is lost: SHA-256 of the user id and the code
-- (80 random bits each), never the code.
CREATE TABLE user_recovery_codes (
    actor_id  integer NOT NULL REFERENCES users (actor_id) ON DELETE CASCADE,
    code_hash bytea NOT NULL,
    used_at   timestamptz,
    CONSTRAINT user_recovery_codes_pk PRIMARY KEY (actor_id, code_hash)
);

-- A login half done: the password was right, and the second factor is asked (`code`) or must
-- be set up first (`enrol`: FIELDSURVEY_REQUIRE_2FA). Only the SHA-256 of the token (a cookie
-- of the login pages) is kept; it lives minutes and gives no access to anything else.
CREATE TABLE login_challenges (
    token_hash bytea PRIMARY KEY,
    actor_id   integer NOT NULL REFERENCES users (actor_id) ON DELETE CASCADE,
    purpose    text NOT NULL CONSTRAINT login_challenges_purpose CHECK (purpose IN ('code', 'enrol')),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX login_challenges_actor ON login_challenges (actor_id);
CREATE INDEX login_challenges_expires ON login_challenges (expires_at);
