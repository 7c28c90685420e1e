-- The highest Digest nonce count accepted per nonce, shared by every server process (with
-- --workers N a header captured once cannot be replayed on another worker). A nonce lives 5
-- minutes (api/openrosa.py NONCE_TTL); rows older than that are deleted as new ones come.
CREATE TABLE digest_nonces (
    nonce   text PRIMARY KEY CONSTRAINT digest_nonces_nonce_length CHECK (length(nonce) <= 200),
    count   bigint NOT NULL CONSTRAINT digest_nonces_count_positive CHECK (count > 0),
    used_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX digest_nonces_used_at ON digest_nonces (used_at);
