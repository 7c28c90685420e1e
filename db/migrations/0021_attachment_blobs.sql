-- Attachment files kept in PostgreSQL (FIELDSURVEY_ATTACHMENTS=postgres), as ODK Central keeps
-- its blobs by default, so that every app server reads them. Content-addressed: the key is the
-- SHA-256 of the bytes (api/storage); a file is written (and committed) before the row that
-- refers to it, and deleted only when nothing refers to it (db/blobs.py).
CREATE TABLE attachment_blobs (
    key        text PRIMARY KEY CONSTRAINT attachment_blobs_key_sha256 CHECK (key ~ '^[0-9a-f]{64}$'),
    content    bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
-- photos and audio are compressed already: out of line, without trying to compress them again
ALTER TABLE attachment_blobs ALTER COLUMN content SET STORAGE EXTERNAL;
-- whether anything still refers to a file (db/blobs.py) is asked by key
CREATE INDEX submission_attachments_blob_key ON submission_attachments (blob_key)
    WHERE blob_key IS NOT NULL;
