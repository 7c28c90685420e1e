-- The key of the keyed hash that gives each support-centre case its record key for the
-- cell-key perturbation of reintegration summaries (api/services/reintegration.py).
INSERT INTO server_secrets (name, value)
VALUES ('case-record-key', sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text
                                             || clock_timestamp()::text, 'UTF8')));
