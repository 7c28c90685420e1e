-- Every finished backup (`fieldsurvey backup`), so that administrators (the admin pages) and
-- monitoring (/metrics) see how old the newest one is (api/services/backup.py
-- newest_backup_time). Only what was made and when: never the passphrase.
CREATE TABLE backups (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    snapshot_at timestamptz NOT NULL,               -- the moment the backup's data is from
    finished_at timestamptz NOT NULL DEFAULT now(), -- the file was complete and renamed
    file_name   text NOT NULL,
    bytes       bigint NOT NULL CONSTRAINT backups_bytes_positive CHECK (bytes > 0),
    attachments integer NOT NULL CONSTRAINT backups_attachments_count CHECK (attachments >= 0),
    encrypted   boolean NOT NULL,
    CONSTRAINT backups_snapshot_before_finish CHECK (snapshot_at <= finished_at)
);
CREATE INDEX backups_finished_at ON backups (finished_at DESC);
