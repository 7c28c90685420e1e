-- A web user's own choices for the pages: the language (en, ru, tg) picked with the switcher,
-- and the time zone times are shown in (NULL: the server's default, Asia/Dushanbe).
ALTER TABLE users ADD COLUMN locale text
    CONSTRAINT users_locale_known CHECK (locale IN ('en', 'ru', 'tg'));
ALTER TABLE users ADD COLUMN time_zone text;

-- The key of the pages' CSRF tokens, shared by every server process.
INSERT INTO server_secrets (name, value)
VALUES ('csrf', sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text
                                  || clock_timestamp()::text, 'UTF8')));
