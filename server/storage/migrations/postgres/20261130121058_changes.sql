-- Modify "feedbacks" table
ALTER TABLE "feedbacks" ADD COLUMN "verdict" character varying NULL, ADD COLUMN "verified_at" timestamptz NULL;
