-- Modify "auth_tokens" table
ALTER TABLE "auth_tokens" ADD COLUMN "label" character varying NOT NULL DEFAULT '';
-- Modify "prototypes" table
ALTER TABLE "prototypes" ADD COLUMN "open_feedback" boolean NOT NULL DEFAULT false;
