-- Modify "feedbacks" table
ALTER TABLE "feedbacks" ADD COLUMN "verdict" character varying NULL, ADD COLUMN "verified_at" timestamptz NULL, ADD COLUMN "merged_into_id" bigint NULL, ADD CONSTRAINT "feedbacks_feedbacks_merged_from" FOREIGN KEY ("merged_into_id") REFERENCES "feedbacks" ("id") ON UPDATE NO ACTION ON DELETE SET NULL;
-- Create index "feedback_merged_into_id" to table: "feedbacks"
CREATE INDEX "feedback_merged_into_id" ON "feedbacks" ("merged_into_id");
