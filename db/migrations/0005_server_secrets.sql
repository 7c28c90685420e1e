-- Secrets every server process must share (e.g. the HMAC key of Digest nonces, so that a
-- nonce issued by one worker is accepted by another). Made once, here, at random.
CREATE TABLE server_secrets (
    name  text PRIMARY KEY,
    value bytea NOT NULL CONSTRAINT server_secrets_value_length CHECK (length(value) >= 32)
);
INSERT INTO server_secrets (name, value)
VALUES ('digest-nonce', sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text
                                          || clock_timestamp()::text, 'UTF8')));
